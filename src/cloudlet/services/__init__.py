"""The services cloudlet implements, by botocore model name. Each is
imported on its first request, which keeps start-up fast."""

from __future__ import annotations

import importlib

SERVICES: dict[str, str] = {
    "cloudtrail": "cloudlet.services.cloudtrail.provider:CloudTrailService",
    "cloudwatch": "cloudlet.services.cloudwatch.provider:CloudWatchService",
    "events": "cloudlet.services.events.provider:EventsService",
    "iam": "cloudlet.services.iam.provider:IamService",
    "kms": "cloudlet.services.kms.provider:KmsService",
    "lambda": "cloudlet.services.awslambda.provider:LambdaService",
    "logs": "cloudlet.services.logs.provider:LogsService",
    "s3": "cloudlet.services.s3.provider:S3Service",
    "scheduler": "cloudlet.services.scheduler.provider:SchedulerService",
    "ses": "cloudlet.services.ses.provider:SesService",
    "sesv2": "cloudlet.services.ses.v2:SesV2Service",
    "sns": "cloudlet.services.sns.provider:SnsService",
    "sqs": "cloudlet.services.sqs.provider:SqsService",
    "sts": "cloudlet.services.sts.provider:StsService",
}


def load_service_class(name: str):
    path = SERVICES.get(name)
    if path is None:
        return None
    module, _, cls = path.partition(":")
    return getattr(importlib.import_module(module), cls)


# Services started at boot when they have state, because they have work to
# resume on their own (deliveries to retry, retention to sweep, keys to rotate or delete).
RESUMABLE = ("cloudtrail", "cloudwatch", "events", "kms", "lambda", "logs", "scheduler", "sns", "sqs")
