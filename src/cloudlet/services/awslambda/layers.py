"""Lambda layers: PublishLayerVersion (ZipFile or S3Bucket/S3Key),
Get / GetByArn / List / DeleteLayerVersion, ListLayers, and a function's
Layers (at most five, in order). At invocation the layers are unzipped,
in order, into one directory standing for /opt (later layers win, as on
AWS), whose `python` / `python/lib/pythonX.Y/site-packages` go on
PYTHONPATH and `nodejs/node_modules` / `nodejs/nodeNN/node_modules` on
NODE_PATH, after the function's own code. Mixed into LambdaService.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import os
import re
import shutil
import sys
import uuid
import zipfile

import orjson

from cloudlet.errors import AwsError

MAX_LAYERS = 5
_ARN = re.compile(r"arn:aws[\w-]*:lambda:([a-z0-9-]+):(\d{12}):layer:([A-Za-z0-9_-]+):(\d+)")


def layer_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:layer:{name}"


class LayerOps:
    """Mixed into LambdaService."""

    def _layer_row(self, account: str, region: str, name: str, version: int):
        return self.storage.one("SELECT config, code_sha FROM lambda_layers WHERE account = ? AND region = ? AND "
                                "name = ? AND version = ?", (account, region, name, version))

    async def PublishLayerVersion(self, ctx, params):
        name = params["LayerName"]
        sha, size = await self._code(ctx, params["Content"])
        version = (self.storage.scalar("SELECT MAX(version) FROM lambda_layers WHERE account = ? AND region = ? AND "
                                       "name = ?", (ctx.account_id, ctx.region, name)) or 0) + 1
        arn = layer_arn(ctx.region, ctx.account_id, name)
        t = _dt.datetime.fromtimestamp(self.clock.now(), _dt.timezone.utc)
        config = {"Content": {"Location": self._code_location(sha), "CodeSha256": sha, "CodeSize": size},
                  "LayerArn": arn, "LayerVersionArn": f"{arn}:{version}",
                  "Description": params.get("Description", ""),
                  "CreatedDate": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000",
                  "Version": version}
        for key in ("CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"):
            if params.get(key):
                config[key] = params[key]
        with self.storage.tx():
            self.storage.execute("INSERT INTO lambda_layers (account, region, name, version, config, code_sha) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", (ctx.account_id, ctx.region, name, version,
                                                               orjson.dumps(config).decode(), sha))
        return config

    def _layer(self, account: str, region: str, name: str, version: int) -> dict:
        row = self._layer_row(account, region, name, version)
        if row is None:
            raise AwsError("ResourceNotFoundException", "The resource you requested does not exist.", 404)
        return orjson.loads(row[0])

    def GetLayerVersion(self, ctx, params):
        return self._layer(ctx.account_id, ctx.region, params["LayerName"], params["VersionNumber"])

    def GetLayerVersionByArn(self, ctx, params):
        m = _ARN.fullmatch(params["Arn"])
        if m is None:
            raise AwsError("InvalidParameterValueException", f"Invalid layer version ARN: {params['Arn']}")
        return self._layer(m.group(2), m.group(1), m.group(3), int(m.group(4)))

    def ListLayerVersions(self, ctx, params):
        rows = self.storage.all("SELECT config FROM lambda_layers WHERE account = ? AND region = ? AND name = ? "
                                "ORDER BY version DESC", (ctx.account_id, ctx.region, params["LayerName"]))
        items = []
        for row in rows:
            c = orjson.loads(row[0])
            if params.get("CompatibleRuntime") and params["CompatibleRuntime"] not in c.get("CompatibleRuntimes", ()):
                continue
            items.append({k: v for k, v in c.items() if k not in ("Content", "LayerArn")})
        return {"LayerVersions": items}

    def ListLayers(self, ctx, params):
        names = [r[0] for r in self.storage.all("SELECT DISTINCT name FROM lambda_layers WHERE account = ? AND "
                                                "region = ? ORDER BY name", (ctx.account_id, ctx.region))]
        layers = []
        for name in names:
            versions = self.ListLayerVersions(ctx, {"LayerName": name,
                                                    "CompatibleRuntime": params.get("CompatibleRuntime")})
            if versions["LayerVersions"]:
                layers.append({"LayerName": name, "LayerArn": layer_arn(ctx.region, ctx.account_id, name),
                               "LatestMatchingVersion": versions["LayerVersions"][0]})
        return {"Layers": layers}

    def DeleteLayerVersion(self, ctx, params):
        with self.storage.tx():
            self.storage.execute("DELETE FROM lambda_layers WHERE account = ? AND region = ? AND name = ? AND "
                                 "version = ?", (ctx.account_id, ctx.region, params["LayerName"],
                                                 params["VersionNumber"]))
        return {}

    # -- on functions -------------------------------------------------------------------------

    def function_layers(self, arns: list[str]) -> list[dict]:
        """The configuration's Layers: [{Arn, CodeSize}] (a layer version that
        does not exist is refused, as AWS does)."""
        if len(arns) > MAX_LAYERS:
            raise AwsError("InvalidParameterValueException", "Cannot reference more than 5 layers.")
        out = []
        for arn in arns:
            m = _ARN.fullmatch(arn)
            row = self._layer_row(m.group(2), m.group(1), m.group(3), int(m.group(4))) if m else None
            if row is None:
                raise AwsError("InvalidParameterValueException", f"Layer version {arn} does not exist.")
            out.append({"Arn": arn, "CodeSize": orjson.loads(row[0])["Content"]["CodeSize"]})
        return out

    def opt_dir(self, layers: list[dict]) -> str | None:
        """The layers unzipped in order into one directory (made once per
        combination of layer code)."""
        shas = []
        for layer in layers:
            m = _ARN.fullmatch(layer["Arn"])
            row = self._layer_row(m.group(2), m.group(1), m.group(3), int(m.group(4))) if m else None
            if row is not None:
                shas.append(row[1])
        if not shas:
            return None
        key = hashlib.sha256("|".join(shas).encode()).hexdigest()[:32]
        path = os.path.join(self.cloud.data_dir, "lambda-opt", key)
        if not os.path.isdir(path):
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            os.makedirs(tmp)
            for sha in shas:
                with zipfile.ZipFile(io.BytesIO(self.code_bytes(sha))) as archive:
                    archive.extractall(tmp)
            try:
                os.rename(tmp, path)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
        return path

    @staticmethod
    def layer_env(opt: str, runtime: str, code_dir: str) -> dict[str, str]:
        if runtime.startswith("nodejs"):
            major = runtime[len("nodejs"):].split(".")[0]
            return {"NODE_PATH": os.pathsep.join([os.path.join(code_dir, "node_modules"), code_dir,
                                                  os.path.join(opt, "nodejs", f"node{major}", "node_modules"),
                                                  os.path.join(opt, "nodejs", "node_modules")])}
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        return {"PYTHONPATH": os.pathsep.join([os.path.join(opt, "python", "lib", version, "site-packages"),
                                               os.path.join(opt, "python")])}
