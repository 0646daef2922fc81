# Custom resource of the event-stream-region template, used only when the central
# queue lives in another account: subscribes the queue to this region's topic as the
# queue's owner (through a role the central-queue stack made), so the subscription is
# confirmed at once, as `event-rule setup` does. A topic owner's own subscription to a
# queue of another account would wait for the queue owner to confirm it.
import json
import urllib.request

import boto3


def send(event, status, physical_id, reason=""):
    body = json.dumps(
        {
            "Status": status,
            "Reason": (reason or status)[:2000],
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": {"SubscriptionArn": physical_id},
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    urllib.request.urlopen(request, timeout=30).close()


def queue_owner_sns(props):
    credentials = boto3.client("sts").assume_role(
        RoleArn=props["RoleArn"], RoleSessionName="cloudcoreo-events-subscribe"
    )["Credentials"]
    return boto3.client(
        "sns",
        region_name=props["TopicArn"].split(":")[3],
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def handler(event, context):
    kind = event["RequestType"]
    physical_id = event.get("PhysicalResourceId", "none")
    props = event["ResourceProperties"]
    try:
        sns = queue_owner_sns(props)
        if kind == "Delete":
            if physical_id.startswith("arn:"):
                sns.unsubscribe(SubscriptionArn=physical_id)
        else:
            # Subscribe is idempotent: an update that changes nothing gets the same
            # ARN back; a new topic or queue gets a new one, and CloudFormation then
            # deletes the old subscription.
            physical_id = sns.subscribe(
                TopicArn=props["TopicArn"],
                Protocol="sqs",
                Endpoint=props["QueueArn"],
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
        send(event, "SUCCESS", physical_id)
    except Exception as error:
        print(f"{kind} failed: {error!r}")
        # A delete that cannot reach the queue's account must not block the stack's
        # removal; the subscription then stops with the topic.
        send(event, "SUCCESS" if kind == "Delete" else "FAILED", physical_id, str(error))
