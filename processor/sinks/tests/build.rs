//! `build` from parsed specs: stdout and file sinks, and the errors.

use std::path::PathBuf;

use processor_core::{Action, EventRef, RescanRequest, Scope};
use processor_sinks::{build, ErrorKind, SinkOptions, SinkSpec};

fn request(id: &str) -> RescanRequest {
    RescanRequest {
        account: "123456789012".into(),
        region: "eu-west-1".into(),
        service: "iam".into(),
        resource_type: Some("iam:role".into()),
        resource_id: Some(id.into()),
        arn: Some(format!("arn:aws:iam::123456789012:role/{id}")),
        scope: Scope::Resource,
        action: Action::Delete,
        not_before: "2023-07-10T11:43:06Z".into(),
        events: vec![EventRef {
            event_id: format!("event-{id}"),
            event_name: "DeleteRole".into(),
            event_time: "2023-07-10T11:42:36Z".into(),
            principal: Some("arn:aws:iam::123456789012:user/Alice".into()),
        }],
    }
}

#[tokio::test]
async fn a_file_spec_builds_a_sink_appending_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rescans.ndjson");
    let spec: SinkSpec = format!("file:{}", path.display()).parse().unwrap();
    assert_eq!(spec, SinkSpec::File(path.clone()));
    let sink = build(&spec, None, &SinkOptions::default()).await.unwrap();
    assert_eq!(sink.kind(), "file");
    assert_eq!(sink.name(), format!("file:{}", path.display()));

    let a = vec![request("a"), request("b")];
    let b = vec![request("c")];
    assert_eq!(sink.deliver(&a).await, vec![Ok(()), Ok(())]);
    assert_eq!(sink.deliver(&b).await, vec![Ok(())]);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(text.ends_with('\n'));
    for (line, r) in lines.iter().zip(a.iter().chain(&b)) {
        assert_eq!(*line, serde_json::to_string(r).unwrap());
        let back: RescanRequest = serde_json::from_str(line).unwrap();
        assert_eq!(&back, r);
    }
}

#[tokio::test]
async fn an_unwritable_file_fails_every_request() {
    let Ok(sink) = build(
        &SinkSpec::File(PathBuf::from("/dev/full")),
        None,
        &SinkOptions::default(),
    )
    .await
    else {
        eprintln!("skipping: /dev/full cannot be opened on this system");
        return;
    };
    let results = sink
        .deliver(&[request("a"), request("b"), request("c")])
        .await;
    assert_eq!(results.len(), 3);
    for r in results {
        assert_eq!(r.unwrap_err().kind, ErrorKind::Transient);
    }
}

#[tokio::test]
async fn an_unopenable_file_fails_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SinkSpec::File(dir.path().join("no/such/dir/x.ndjson"));
    let e = build(&spec, None, &SinkOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
}

#[tokio::test]
async fn stdout_builds() {
    let sink = build(&SinkSpec::Stdout, None, &SinkOptions::default())
        .await
        .unwrap();
    assert_eq!(sink.kind(), "stdout");
    assert_eq!(sink.name(), "stdout");
    assert!(sink.deliver(&[]).await.is_empty());
}

#[tokio::test]
async fn sqs_needs_the_aws_config() {
    let spec: SinkSpec = "sqs:https://sqs.us-east-1.amazonaws.com/123456789012/q"
        .parse()
        .unwrap();
    let e = build(&spec, None, &SinkOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert_eq!(
        e.sink,
        "sqs:https://sqs.us-east-1.amazonaws.com/123456789012/q"
    );
}

#[tokio::test]
async fn bad_options_fail_the_build() {
    let opts = SinkOptions {
        http_max_batch: 0,
        ..SinkOptions::default()
    };
    let e = build(&SinkSpec::Stdout, None, &opts).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("http_max_batch"), "{e}");
}
