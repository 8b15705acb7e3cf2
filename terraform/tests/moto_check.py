#!/usr/bin/env python3
"""After `terraform apply` of examples/single-account against a local moto
server, read the resources back through the AWS APIs and check the
properties that matter. Usage: moto_check.py http://127.0.0.1:PORT

Needs boto3 (installed with moto[server]). Talks to the given loopback
endpoint only.
"""

from __future__ import annotations

import json
import sys

import boto3

NAME = "bedrock-gateway"

# examples/single-account's default models, as the gateway reads them.
EXPECTED_CATALOG = {
    "models": {
        "claude-haiku": {
            "model_id": "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
            "version": "claude-haiku-4.5",
            "max_tokens_cap": 4096,
        },
        "chat": {
            "description": "General chat",
            "sticky_metadata_key": "conversation_id",
            "targets": [
                {"model_id": "eu.anthropic.claude-haiku-4-5-20251001-v1:0", "version": "claude-haiku-4.5", "weight": 90},
                {"model_id": "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "version": "claude-sonnet-4.5", "weight": 10},
            ],
            "fallbacks": [{"model_id": "global.anthropic.claude-haiku-4-5-20251001-v1:0", "version": "claude-haiku-4.5"}],
        },
    }
}


def main() -> int:
    endpoint = sys.argv[1]
    if not endpoint.startswith(("http://127.", "http://localhost")):
        print(f"refusing non-loopback endpoint {endpoint}")
        return 2
    kw = dict(endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
    ec2 = boto3.client("ec2", **kw)
    elb = boto3.client("elbv2", **kw)
    ecs = boto3.client("ecs", **kw)
    iam = boto3.client("iam", **kw)
    ecr = boto3.client("ecr", **kw)
    sts = boto3.client("sts", **kw)
    sns = boto3.client("sns", **kw)
    events = boto3.client("events", **kw)
    cloudwatch = boto3.client("cloudwatch", **kw)
    s3 = boto3.client("s3", **kw)
    account = sts.get_caller_identity()["Account"]
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: object = "") -> None:
        results.append((name, bool(ok), str(detail)))

    lbs = [lb for lb in elb.describe_load_balancers()["LoadBalancers"] if lb["LoadBalancerName"] == NAME]
    check("one NLB exists", len(lbs) == 1, lbs)
    lb = lbs[0]
    check("NLB is internal", lb["Scheme"] == "internal", lb["Scheme"])
    check("NLB is a network load balancer", lb["Type"] == "network", lb["Type"])

    listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    tcp = [l for l in listeners if l["Protocol"] == "TCP" and l["Port"] == 50051]
    check("TCP listener on 50051", len(tcp) == 1, [(l["Protocol"], l["Port"]) for l in listeners])
    attrs = {a["Key"]: a["Value"] for a in elb.describe_listener_attributes(ListenerArn=tcp[0]["ListenerArn"])["Attributes"]}
    check("listener tcp.idle_timeout.seconds = 350", attrs.get("tcp.idle_timeout.seconds") == "350", attrs)

    tgs = elb.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
    tg_attrs = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=tgs[0]["TargetGroupArn"])["Attributes"]}
    check("IP target group", tgs[0]["TargetType"] == "ip", tgs[0]["TargetType"])
    check("cross-zone on", tg_attrs.get("load_balancing.cross_zone.enabled") == "true", tg_attrs)
    check(
        "a target that turns unhealthy keeps its connections",
        tg_attrs.get("target_health_state.unhealthy.connection_termination.enabled") == "false",
        tg_attrs,
    )

    services = ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]
    check("one endpoint service", len(services) == 1, len(services))
    svc = services[0]
    check("endpoint service requires acceptance", svc["AcceptanceRequired"] is True, svc["AcceptanceRequired"])
    principals = [p["Principal"] for p in ec2.describe_vpc_endpoint_service_permissions(ServiceId=svc["ServiceId"])["AllowedPrincipals"]]
    check("endpoint service admits exactly the account root", principals == [f"arn:aws:iam::{account}:root"], principals)

    # moto (like a fresh account) has a default VPC; only look at ours.
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"]]
    check("gateway and client VPCs exist", len(vpcs) == 2, vpcs)
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": vpcs}])["Subnets"]
    check("no subnet maps public IPs", subnets and not any(s["MapPublicIpOnLaunch"] for s in subnets), len(subnets))
    igws = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": vpcs}])["InternetGateways"]
    check("no internet gateway", igws == [], igws)
    nats = ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": vpcs}])["NatGateways"]
    check("no NAT gateway", nats == [], nats)
    zone_ids = {}
    for s in subnets:
        zone_ids.setdefault(s["VpcId"], set()).add(s["AvailabilityZoneId"])
    check("gateway and client subnets are in the same zone IDs", len(set(map(frozenset, zone_ids.values()))) == 1, zone_ids)
    routes = [r for rt in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": vpcs}])["RouteTables"] for r in rt["Routes"]]
    check("no default route", not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in routes), routes)

    endpoints = ec2.describe_vpc_endpoints()["VpcEndpoints"]
    names = sorted(e["ServiceName"].rsplit(".", 1)[-1] if "vpce-svc" in e["ServiceName"] else e["ServiceName"].split("eu-west-1.", 1)[-1] for e in endpoints)
    for wanted in ("bedrock-runtime", "ecr.api", "ecr.dkr", "logs", "s3"):
        check(f"VPC endpoint {wanted}", wanted in names, names)

    svc_desc = ecs.describe_services(cluster=NAME, services=[NAME])["services"][0]
    awsvpc = svc_desc["networkConfiguration"]["awsvpcConfiguration"]
    check("ECS service has no public IP", awsvpc["assignPublicIp"] == "DISABLED", awsvpc)
    if "deploymentConfiguration" in svc_desc:
        check(
            "circuit breaker with rollback",
            svc_desc["deploymentConfiguration"].get("deploymentCircuitBreaker") == {"enable": True, "rollback": True},
            svc_desc["deploymentConfiguration"],
        )
    else:
        print("SKIP: circuit breaker (moto does not return deploymentConfiguration; covered by terraform test)")
    td = ecs.describe_task_definition(taskDefinition=svc_desc["taskDefinition"])["taskDefinition"]
    container = td["containerDefinitions"][0]
    env = {e["name"]: e["value"] for e in container["environment"]}
    age = int(env["BEDROCK_GATEWAY_SERVER__MAX_CONNECTION_AGE_SECS"])
    check(
        "deregistration delay >= 1.1 x max connection age (every connection sent GOAWAY before SIGTERM)",
        int(tg_attrs["deregistration_delay.timeout_seconds"]) >= 1.1 * age,
        (tg_attrs["deregistration_delay.timeout_seconds"], age),
    )
    check(
        "shutdown grace < stopTimeout <= 120",
        int(env["BEDROCK_GATEWAY_SERVER__SHUTDOWN_GRACE_SECS"]) < container["stopTimeout"] <= 120,
        (env["BEDROCK_GATEWAY_SERVER__SHUTDOWN_GRACE_SECS"], container["stopTimeout"]),
    )
    check(
        "the gateway publishes EMF (StreamsInFlight) under ServiceName = the service",
        env.get("BEDROCK_GATEWAY_METRICS__EMF") == "true" and env.get("BEDROCK_GATEWAY_METRICS__EMF_SERVICE_NAME") == NAME,
        {k: v for k, v in env.items() if "METRICS" in k},
    )
    check("ARM64 task", td.get("runtimePlatform", {}).get("cpuArchitecture") == "ARM64", td.get("runtimePlatform"))
    check("health check is the binary", container["healthCheck"]["command"][:3] == ["CMD", "/usr/local/bin/bedrock-gateway", "healthcheck"])

    policy = iam.get_role_policy(RoleName=f"{NAME}-task", PolicyName="invoke-configured-models")["PolicyDocument"]
    if isinstance(policy, str):
        policy = json.loads(policy)
    stmts = policy["Statement"]
    # The example's catalog calls three inference profiles (targets and the fallback).
    profiles = [
        f"arn:aws:bedrock:eu-west-1:{account}:inference-profile/{p}"
        for p in (
            "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
            "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
        )
    ]
    any_region_models = [
        "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
        "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        # The global profile's model, also by the region-less ARN AWS documents.
        "arn:aws:bedrock:::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
    ]

    def as_list(value: object) -> list:
        return value if isinstance(value, list) else [value]

    check(
        "task role: only InvokeModel* and CountTokens on every target's and fallback's profile, and on their models in any region only through them",
        len(stmts) == 2
        and all(sorted(st["Action"]) == ["bedrock:CountTokens", "bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"] for st in stmts)
        and sorted(as_list(stmts[0]["Resource"])) == sorted(profiles)
        and sorted(as_list(stmts[1]["Resource"])) == sorted(any_region_models)
        and sorted(as_list(stmts[1].get("Condition", {}).get("StringEquals", {}).get("bedrock:InferenceProfileArn", []))) == sorted(profiles),
        stmts,
    )
    attached = iam.list_attached_role_policies(RoleName=f"{NAME}-task")["AttachedPolicies"]
    check("task role has no managed policies", attached == [], attached)

    # The catalog: a private, versioned, KMS-encrypted bucket with one JSON
    # object, read by the task role alone, named to the container.
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(f"{NAME}-catalog-")]
    check("one catalog bucket", len(buckets) == 1, buckets)
    bucket = buckets[0] if buckets else ""
    if bucket:
        check("catalog bucket versioned", s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled")
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        check("catalog bucket blocks public access", all(block.values()) and len(block) == 4, block)
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        check("catalog bucket encrypted with KMS", rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", rules)
        obj = s3.get_object(Bucket=bucket, Key="catalog.json")
        catalog = json.loads(obj["Body"].read())
        check("catalog object is the example's models as JSON, unset attributes left out", catalog == EXPECTED_CATALOG, catalog)
        check("catalog object is JSON", obj.get("ContentType") == "application/json", obj.get("ContentType"))
        tenants = json.loads(s3.get_object(Bucket=bucket, Key="tenants.json")["Body"].read())
        check("tenants object next to the catalog", tenants == {"tenants": {}}, tenants)
    check(
        "the container reads the catalog from that object and has no MODELS variables",
        env.get("BEDROCK_GATEWAY_CATALOG__S3__BUCKET") == bucket
        and env.get("BEDROCK_GATEWAY_CATALOG__S3__KEY") == "catalog.json"
        and env.get("BEDROCK_GATEWAY_CATALOG__S3__REGION") == "eu-west-1"
        and not any(k.startswith("BEDROCK_GATEWAY_MODELS__") for k in env),
        {k: v for k, v in env.items() if "CATALOG" in k or "MODELS" in k},
    )
    check(
        "the container reads the tenants from that object and has no TENANTS variables",
        env.get("BEDROCK_GATEWAY_TENANTS_SOURCE__S3__BUCKET") == bucket
        and env.get("BEDROCK_GATEWAY_TENANTS_SOURCE__S3__KEY") == "tenants.json"
        and not any(k.startswith("BEDROCK_GATEWAY_TENANTS__") for k in env),
        {k: v for k, v in env.items() if "TENANTS" in k},
    )
    read = iam.get_role_policy(RoleName=f"{NAME}-task", PolicyName="read-catalog")["PolicyDocument"]
    if isinstance(read, str):
        read = json.loads(read)
    get_object = [st for st in read["Statement"] if "s3:GetObject" in as_list(st["Action"])]
    check(
        "task role: s3:GetObject on the catalog and tenants objects alone",
        len(get_object) == 1 and as_list(get_object[0]["Resource"]) == [f"arn:aws:s3:::{bucket}/catalog.json", f"arn:aws:s3:::{bucket}/tenants.json"],
        read["Statement"],
    )
    s3_endpoint = [e for e in endpoints if e["ServiceName"].endswith(".s3")]
    s3_policy = json.loads(s3_endpoint[0]["PolicyDocument"]) if s3_endpoint else {"Statement": []}
    check(
        "the S3 gateway endpoint admits the catalog object",
        any(f"arn:aws:s3:::{bucket}/catalog.json" in as_list(st["Resource"]) for st in s3_policy["Statement"]),
        s3_policy,
    )

    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(f":{NAME}-alarms")]
    check("an alarm topic exists", len(topics) == 1, topics)
    topic = topics[0] if topics else ""
    if topic:
        attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
        check("the alarm topic is KMS-encrypted", attributes.get("KmsMasterKeyId", "") != "", attributes.get("KmsMasterKeyId"))
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"]
    names = {a["AlarmName"] for a in alarms}
    for wanted in ("error-ratio", "rejections", "streams-saturation", "no-healthy-targets"):
        check(f"alarm {wanted}", f"{NAME}-{wanted}" in names, sorted(names))
    check("every alarm notifies the topic", alarms and all(a["AlarmActions"] == [topic] for a in alarms), [(a["AlarmName"], a["AlarmActions"]) for a in alarms])
    targets = events.list_targets_by_rule(Rule=f"{NAME}-deployment-failed")["Targets"]
    check("failed deployments reach the topic", [t["Arn"] for t in targets] == [topic], targets)

    repo = ecr.describe_repositories(repositoryNames=[NAME])["repositories"][0]
    check("ECR immutable tags", repo["imageTagMutability"] == "IMMUTABLE")
    check("ECR scan on push", repo["imageScanningConfiguration"]["scanOnPush"] is True)

    failed = 0
    for name, ok, detail in results:
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'}: {name}" + ("" if ok else f"  [{detail}]"))
    print(f"moto: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
