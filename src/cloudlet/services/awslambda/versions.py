"""Lambda versions and aliases: PublishVersion (a snapshot of $LATEST's
configuration and code, numbered from 1; none is made when $LATEST has
not changed since the last one), ListVersionsByFunction, Create / Get /
List / Update / DeleteAlias (RoutingConfig weights split invocations
between two versions, at random as on AWS), and the Qualifier of
GetFunction, GetFunctionConfiguration, DeleteFunction and Invoke (a
version number, an alias, or $LATEST; also given as the name's suffix:
`fn:prod`, `arn:...:function:fn:3`). Mixed into LambdaService.
"""

from __future__ import annotations

import random
import uuid

import orjson

from cloudlet.errors import AwsError

_SNAPSHOT_KEYS = ("Runtime", "Role", "Handler", "Timeout", "MemorySize", "Environment", "DeadLetterConfig",
                  "Layers", "TracingConfig", "EphemeralStorage", "CodeSha256")


def _not_found(arn: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Function not found: {arn}", 404)


class VersionOps:
    """Mixed into LambdaService."""

    def qualifier_of(self, name: str, params: dict) -> str | None:
        from cloudlet.services.awslambda.provider import _NAME

        m = _NAME.fullmatch(name or "")
        in_name = m.group(5) if m else None
        given = params.get("Qualifier")
        if in_name and given and in_name != given:
            raise AwsError("InvalidParameterValueException", "The derived qualifier from the function name does not "
                                                             "match the specified qualifier.")
        return given or in_name

    def _versions(self, fn: dict) -> list[dict]:
        rows = self.storage.all("SELECT version, config, code_sha FROM lambda_versions WHERE account = ? AND "
                                "region = ? AND name = ? ORDER BY version", (fn["account"], fn["region"], fn["name"]))
        return [{"version": v, "config": orjson.loads(c), "code_sha": sha} for v, c, sha in rows]

    def _version(self, fn: dict, version: str) -> dict | None:
        if not version.isdigit():
            return None
        row = self.storage.one("SELECT config, code_sha FROM lambda_versions WHERE account = ? AND region = ? AND "
                               "name = ? AND version = ?", (fn["account"], fn["region"], fn["name"], int(version)))
        return None if row is None else {"config": orjson.loads(row[0]), "code_sha": row[1]}

    def _alias(self, fn: dict, alias: str) -> dict | None:
        row = self.storage.one("SELECT config FROM lambda_aliases WHERE account = ? AND region = ? AND name = ? AND "
                               "alias = ?", (fn["account"], fn["region"], fn["name"], alias))
        return None if row is None else orjson.loads(row[0])

    def resolve(self, ctx, name: str, params: dict) -> tuple[dict, str]:
        """(the function as the qualifier names it, the version that runs)."""
        fn = self.function(ctx, name)
        qualifier = self.qualifier_of(name, params)
        if qualifier in (None, "$LATEST"):
            return fn, "$LATEST"
        version = qualifier
        if not qualifier.isdigit():
            alias = self._alias(fn, qualifier)
            if alias is None:
                raise _not_found(f"{fn['config']['FunctionArn']}:{qualifier}")
            version = alias["FunctionVersion"]
            weights = ((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")) or {}
            roll = random.random()
            for other, weight in weights.items():
                if roll < weight:
                    version = other
                    break
                roll -= weight
        if version == "$LATEST":
            return fn, "$LATEST"
        found = self._version(fn, version)
        if found is None:
            raise _not_found(f"{fn['config']['FunctionArn']}:{qualifier}")
        return dict(fn, config=found["config"], code_sha=found["code_sha"]), version

    # -- versions -----------------------------------------------------------------------------

    def PublishVersion(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        latest = fn["config"]
        if params.get("CodeSha256") and params["CodeSha256"] != latest["CodeSha256"]:
            raise AwsError("InvalidParameterValueException", f"CodeSHA256 ({params['CodeSha256']}) is different from "
                                                             f"current CodeSHA256 in $LATEST ({latest['CodeSha256']})."
                                                             " Please try again with the CodeSHA256 in $LATEST.")
        if params.get("RevisionId") and params["RevisionId"] != latest["RevisionId"]:
            raise AwsError("PreconditionFailedException", "The Revision Id provided does not match the latest "
                                                          "Revision Id. Call the GetFunction/GetAlias API to retrieve "
                                                          "the latest Revision Id", 412)
        versions = self._versions(fn)
        if versions and all(versions[-1]["config"].get(k) == latest.get(k) for k in _SNAPSHOT_KEYS):
            return versions[-1]["config"]  # nothing changed: AWS answers the last version
        number = (versions[-1]["version"] if versions else 0) + 1
        config = dict(latest, Version=str(number), FunctionArn=f"{latest['FunctionArn']}:{number}",
                      RevisionId=str(uuid.uuid4()))
        if params.get("Description") is not None:
            config["Description"] = params["Description"]
        with self.storage.tx():
            self.storage.execute("INSERT INTO lambda_versions (account, region, name, version, config, code_sha) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", (fn["account"], fn["region"], fn["name"], number,
                                                               orjson.dumps(config).decode(), fn["code_sha"]))
        return config

    def ListVersionsByFunction(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        items = [fn["config"]] + [v["config"] for v in self._versions(fn)]
        start = int(params["Marker"]) if (params.get("Marker") or "").isdigit() else 0
        limit = params.get("MaxItems") or 50
        out = {"Versions": items[start:start + limit]}
        if start + limit < len(items):
            out["NextMarker"] = str(start + limit)
        return out

    def delete_version(self, fn: dict, version: str) -> None:
        if version == "$LATEST":
            raise AwsError("InvalidParameterValueException", "$LATEST version cannot be deleted without deleting the "
                                                             "function.")
        if self._version(fn, version) is None:
            raise _not_found(f"{fn['config']['FunctionArn']}:{version}")
        for alias, config in self.storage.all("SELECT alias, config FROM lambda_aliases WHERE account = ? AND "
                                              "region = ? AND name = ?", (fn["account"], fn["region"], fn["name"])):
            config = orjson.loads(config)
            if version == config["FunctionVersion"] or version in (
                    (config.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}):
                raise AwsError("ResourceConflictException", f"Unable to delete version because the following aliases "
                                                            f"reference it: [{alias}]", 409)
        with self.storage.tx():
            self.storage.execute("DELETE FROM lambda_versions WHERE account = ? AND region = ? AND name = ? AND "
                                 "version = ?", (fn["account"], fn["region"], fn["name"], int(version)))

    # -- aliases -------------------------------------------------------------------------------

    def _check_alias_target(self, fn: dict, version: str, routing: dict | None) -> None:
        if version != "$LATEST" and self._version(fn, version) is None:
            raise _not_found(f"{fn['config']['FunctionArn']}:{version}")
        weights = (routing or {}).get("AdditionalVersionWeights") or {}
        if len(weights) > 1:
            raise AwsError("InvalidParameterValueException", "Number of items in AdditionalVersionWeights cannot be "
                                                             "greater than 1")
        for other, weight in weights.items():
            if other == version:
                raise AwsError("InvalidParameterValueException", "Invalid function version ... Function version "
                                                                 f"{other} is already included in routing config.")
            if self._version(fn, other) is None:
                raise _not_found(f"{fn['config']['FunctionArn']}:{other}")
            if not 0.0 <= weight <= 1.0:
                raise AwsError("InvalidParameterValueException", "Invalid weight: it must be between 0.0 and 1.0.")

    def CreateAlias(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        name = params["Name"]
        if name.isdigit():
            raise AwsError("InvalidParameterValueException", "Alias name cannot be a number.")
        arn = f"{fn['config']['FunctionArn']}:{name}"
        if self._alias(fn, name) is not None:
            raise AwsError("ResourceConflictException", f"Alias already exists: {arn}", 409)
        self._check_alias_target(fn, params["FunctionVersion"], params.get("RoutingConfig"))
        config = {"AliasArn": arn, "Name": name, "FunctionVersion": params["FunctionVersion"],
                  "Description": params.get("Description", ""), "RevisionId": str(uuid.uuid4())}
        if params.get("RoutingConfig"):
            config["RoutingConfig"] = params["RoutingConfig"]
        with self.storage.tx():
            self.storage.execute("INSERT INTO lambda_aliases (account, region, name, alias, config) VALUES "
                                 "(?, ?, ?, ?, ?)", (fn["account"], fn["region"], fn["name"], name,
                                                     orjson.dumps(config).decode()))
        return config

    def _known_alias(self, ctx, params) -> tuple[dict, dict]:
        fn = self.function(ctx, params["FunctionName"])
        alias = self._alias(fn, params["Name"])
        if alias is None:
            raise AwsError("ResourceNotFoundException", f"Alias not found: {fn['config']['FunctionArn']}:"
                                                        f"{params['Name']}", 404)
        return fn, alias

    def GetAlias(self, ctx, params):
        return self._known_alias(ctx, params)[1]

    def ListAliases(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        rows = self.storage.all("SELECT config FROM lambda_aliases WHERE account = ? AND region = ? AND name = ? "
                                "ORDER BY alias", (fn["account"], fn["region"], fn["name"]))
        aliases = [orjson.loads(r[0]) for r in rows]
        if params.get("FunctionVersion"):
            aliases = [a for a in aliases if a["FunctionVersion"] == params["FunctionVersion"]]
        return {"Aliases": aliases}

    def UpdateAlias(self, ctx, params):
        fn, alias = self._known_alias(ctx, params)
        if params.get("RevisionId") and params["RevisionId"] != alias["RevisionId"]:
            raise AwsError("PreconditionFailedException", "The Revision Id provided does not match the latest "
                                                          "Revision Id. Call the GetFunction/GetAlias API to retrieve "
                                                          "the latest Revision Id", 412)
        version = params.get("FunctionVersion") or alias["FunctionVersion"]
        routing = params["RoutingConfig"] if "RoutingConfig" in params else alias.get("RoutingConfig")
        self._check_alias_target(fn, version, routing)
        alias.update(FunctionVersion=version, RevisionId=str(uuid.uuid4()))
        if params.get("Description") is not None:
            alias["Description"] = params["Description"]
        if routing:
            alias["RoutingConfig"] = routing
        else:
            alias.pop("RoutingConfig", None)
        with self.storage.tx():
            self.storage.execute("UPDATE lambda_aliases SET config = ? WHERE account = ? AND region = ? AND name = ? "
                                 "AND alias = ?", (orjson.dumps(alias).decode(), fn["account"], fn["region"],
                                                   fn["name"], alias["Name"]))
        return alias

    def DeleteAlias(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        with self.storage.tx():
            self.storage.execute("DELETE FROM lambda_aliases WHERE account = ? AND region = ? AND name = ? AND "
                                 "alias = ?", (fn["account"], fn["region"], fn["name"], params["Name"]))
        return {}
