"""`make deploy-local` / `make deploy`: the functions to Lambda and API Gateway with SAM.

    python -m scripts.deploy --local    # to the emulator (EMULATOR_URL, default 127.0.0.1:4566)
    python -m scripts.deploy            # to AWS, with the credentials boto3 finds

Both do the same: build the Lambda packages, put the secret settings found in the environment
(and ``.env``) into the stack's Secrets Manager secret, ``sam deploy`` infra/template.yaml with
the other settings as parameters, run the migrations through the migrate function, and print
the API's URL. Settings use their usual names (README, "Settings"); for AWS also
``DEPLOY_SUBNET_IDS`` and ``DEPLOY_SECURITY_GROUP_IDS`` (the functions' VPC, reaching RDS,
ElastiCache and MSK) and ``DEPLOY_ALLOWED_ORIGINS``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from dotenv import dotenv_values

from scripts import build_lambda, emulator

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
# Settings that are secrets: they go to Secrets Manager, never into the template's parameters.
SECRET_SETTINGS = (
    "JWT_SECRET",
    "DATABASE_URL",
    "REDIS_URL",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "TURN_SECRET",
    "SMTP_PASSWORD",
)
REQUIRED = ("JWT_SECRET", "DATABASE_URL", "REDIS_URL")
# Template parameter <- setting.
PARAMETERS = {
    "KafkaBootstrapServers": "KAFKA_BOOTSTRAP_SERVERS",
    "KafkaSecurityProtocol": "KAFKA_SECURITY_PROTOCOL",
    "AiNodeUrls": "AI_NODE_URLS",
    "MediaNodes": "MEDIA_NODES",
    "PublicUrl": "PUBLIC_URL",
    "ExternalS3Endpoint": "S3_ENDPOINT",
    "ExternalS3Bucket": "S3_BUCKET",
    "SubnetIds": "DEPLOY_SUBNET_IDS",
    "SecurityGroupIds": "DEPLOY_SECURITY_GROUP_IDS",
    "AllowedOrigins": "DEPLOY_ALLOWED_ORIGINS",
    "LogLevel": "LOG_LEVEL",
}


EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


@dataclass(frozen=True)
class Deployed:
    stack_name: str
    api_id: str
    api_url: str
    outputs: dict[str, str]


def settings_from_environment() -> dict[str, str]:
    values = {k.upper(): v for k, v in dotenv_values(ROOT / ".env").items() if v is not None}
    values.update({k: v for k, v in os.environ.items() if k.isupper()})
    return values


def aws_environment(endpoint: str | None) -> dict[str, str]:
    """What boto3 and SAM need: the emulator's endpoint and any credentials, or AWS as it is."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    if endpoint:  # the emulator takes any credentials
        env.update(EMULATOR_CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
        env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return env


def put_secret(client: Any, name: str, values: dict[str, str]) -> str:
    body = json.dumps(values)
    try:
        found = client.describe_secret(SecretId=name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        created = client.create_secret(Name=name, SecretString=body)
        return str(created["ARN"])
    client.put_secret_value(SecretId=name, SecretString=body)
    return str(found["ARN"])


def deploy(
    stack_name: str,
    stage: str,
    endpoint: str | None,
    settings: dict[str, str],
    build: bool = True,
) -> Deployed:
    env = aws_environment(endpoint)
    if build:
        for package in build_lambda.PACKAGES:
            build_lambda.build(package)
    emulator.install()
    session = boto3.session.Session(
        region_name=env.get("AWS_DEFAULT_REGION"),
        aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"] if endpoint else None,
        aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"] if endpoint else None,
    )
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]
        return clients[service]

    secret = {name: settings[name] for name in SECRET_SETTINGS if settings.get(name)}
    secret_arn = put_secret(client("secretsmanager"), f"{stack_name}/settings", secret)
    overrides = [f"StageName={stage}", f"SecretArn={secret_arn}"]
    overrides += [f"{p}={quoted(settings[s])}" for p, s in PARAMETERS.items() if settings.get(s)]
    if endpoint:
        overrides.append(f"AwsEndpointUrl={endpoint}")
    command = [
        str(emulator.SAM), "deploy",
        "--template-file", str(TEMPLATE),
        "--stack-name", stack_name,
        "--capabilities", "CAPABILITY_IAM",
        "--no-confirm-changeset", "--no-fail-on-empty-changeset",
        "--parameter-overrides", *overrides,
    ]  # fmt: skip
    if endpoint:  # the emulator: a bucket for the code, made here (on AWS SAM makes its own)
        bucket = f"{stack_name}-deploy"
        client("s3").create_bucket(Bucket=bucket)
        command += ["--s3-bucket", bucket]
    else:
        command += ["--resolve-s3"]
    # SAM's progress bars fill a log: kept for when it fails, its summary shown when it works.
    result = subprocess.run(command, env=env, cwd=TEMPLATE.parent, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"sam deploy failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    print(result.stdout.rsplit("CloudFormation outputs", 1)[0][-2000:].strip())

    stack = client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    migrate(client("lambda"), outputs["MigrateFunctionName"])
    api_id = outputs["ApiId"]
    api_url = f"{endpoint}/_aws/execute-api/{api_id}/{stage}" if endpoint else outputs["ApiUrl"]
    return Deployed(stack_name, api_id, api_url, outputs)


def quoted(value: str) -> str:
    """A value as SAM's --parameter-overrides reads it whole (JSON has commas and quotes)."""
    if "'" in value:
        raise SystemExit(f"a deploy parameter cannot hold a single quote: {value!r}")
    return f"'{value}'"


def migrate(lambda_client: Any, function: str) -> None:
    answer = lambda_client.invoke(FunctionName=function, Payload=b"{}")
    payload = answer["Payload"].read().decode()
    if answer.get("FunctionError"):
        raise SystemExit(f"the migrations failed: {payload}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--local", action="store_true", help="deploy to the local emulator")
    parser.add_argument("--stack-name", default=os.environ.get("DEPLOY_STACK_NAME", "meeting"))
    parser.add_argument("--stage", default=os.environ.get("DEPLOY_STAGE", "v1"))
    parser.add_argument("--no-build", action="store_true", help="use the packages already built")
    args = parser.parse_args()
    settings = settings_from_environment()
    missing = [name for name in REQUIRED if not settings.get(name)]
    if missing:
        raise SystemExit(f"set {', '.join(missing)} (in the environment or .env): docs/deploy.md")
    endpoint = None
    if args.local:
        endpoint = os.environ.get("EMULATOR_URL", f"http://127.0.0.1:{emulator.DEFAULT_PORT}")
        ensure_emulator(endpoint)
    deployed = deploy(args.stack_name, args.stage, endpoint, settings, not args.no_build)
    print(f"API: {deployed.api_url}")


def ensure_emulator(url: str) -> None:
    """The emulator at ``url``, started in the background if nothing answers there."""
    try:
        emulator.wait_ready(url, seconds=2)
        return
    except TimeoutError:
        pass
    emulator.install()
    state = emulator.TOOLS / "ministack-state"
    log = emulator.TOOLS / "ministack.log"
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    emulator.start(port, state, log)
    print(f"started the AWS emulator on {url} (log: {log.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
