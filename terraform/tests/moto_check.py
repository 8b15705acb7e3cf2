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
    profile = f"arn:aws:bedrock:eu-west-1:{account}:inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0"

    def resources(stmt: dict) -> list[str]:
        return stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]

    check(
        "task role: only InvokeModel* on the profile, and on its model in any region only through it",
        len(stmts) == 2
        and all(sorted(st["Action"]) == ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"] for st in stmts)
        and resources(stmts[0]) == [profile]
        and resources(stmts[1]) == ["arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"]
        and stmts[1].get("Condition", {}).get("StringEquals", {}).get("bedrock:InferenceProfileArn") in ([profile], profile),
        stmts,
    )
    attached = iam.list_attached_role_policies(RoleName=f"{NAME}-task")["AttachedPolicies"]
    check("task role has no managed policies", attached == [], attached)

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
