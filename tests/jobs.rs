//! Jobs against a real dockerd, through the job runner the host worker uses: a rollout
//! cancelled while it waits for its first replica stops there (the others are not touched)
//! and ends "cancelled" naming the step; a second job on a container the rollout touches is
//! refused naming the first, while a job on another container runs beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use watchfloor::actions::runner::{JobCommand, Reporter, serve};
use watchfloor::actions::{
    Job, JobId, JobKind, JobOutcome, JobRequest, JobTarget, Member, Pace, Progress,
};
use watchfloor::collect::clients::Clients;
use watchfloor::config::HostSpec;
use watchfloor::event::{AppEvent, HostEvent, HostId, HostSender};
use watchfloor::link::local::Local;

use common::{Docker, NEVER_HEALTHY};

const WAIT: Duration = Duration::from_secs(60);

fn started_at(docker: &Docker, name: &str) -> String {
    docker
        .run(&["inspect", "-f", "{{.State.StartedAt}}", name])
        .trim()
        .to_owned()
}

fn member(docker: &Docker, name: &str, has_health: bool) -> Member {
    Member {
        id: docker
            .run(&["inspect", "-f", "{{.Id}}", name])
            .trim()
            .to_owned(),
        name: name.to_owned(),
        has_health,
    }
}

fn request(id: u64, kind: JobKind, target: JobTarget) -> Box<JobRequest> {
    Box::new(JobRequest {
        id: JobId(id),
        action: Job {
            host: HostId(0),
            host_name: "local".into(),
            target,
            kind,
            pace: Pace::OneByOne,
            stale: None,
        },
    })
}

/// The next report of job `id`, skipping other jobs' and other events.
async fn next_of(rx: &mut mpsc::Receiver<AppEvent>, id: JobId) -> Progress {
    loop {
        let ev = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("a report in time")
            .expect("the runner is alive");
        if let AppEvent::Host(_, HostEvent::Action(got, p)) = ev
            && got == id
        {
            return p;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_cancelled_while_waiting_stops_before_the_next_replica() {
    let docker = Docker::shared();
    let project = "jobcancel";
    docker.remove_project(project, &["jobcancel-other"]);
    let names: Vec<String> = (1..=3)
        .map(|n| docker.compose_container(project, "api", n, NEVER_HEALTHY, &["sleep", "100000"]))
        .collect();
    docker.container("jobcancel-other", &[], &["sleep", "100000"]);
    let before: Vec<String> = names.iter().map(|n| started_at(&docker, n)).collect();

    let link: Arc<dyn watchfloor::link::Link> = Arc::new(Local::new("local"));
    let socket = docker.socket.display().to_string();
    let clients = Arc::new(Clients::new(link, Some(socket.clone()), 0));
    let spec = Arc::new(HostSpec::local("local", Some(socket)));
    let (events, mut rx) = mpsc::channel(256);
    let (commands, mut queue) = mpsc::unbounded_channel();
    let runner = tokio::spawn(async move {
        let out = HostSender {
            id: HostId(0),
            events,
        };
        serve(clients, spec, &mut queue, Reporter::new(out)).await;
    });

    let rollout = JobTarget::Service {
        project: Some(project.into()),
        service: "api".into(),
        containers: names.iter().map(|n| member(&docker, n, true)).collect(),
    };
    commands
        .send(JobCommand::Start(request(1, JobKind::Restart, rollout)))
        .unwrap();
    // It restarts replica 1, then waits for it to be healthy: which it never is.
    loop {
        match next_of(&mut rx, JobId(1)).await {
            Progress::Step(s) if s.starts_with("waiting for jobcancel-api-1") => break,
            Progress::Step(_) | Progress::Output(_) | Progress::Drill(_) => {}
            Progress::Done { outcome, .. } => panic!("ended early: {outcome:?}"),
        }
    }

    // Meanwhile: a job on a replica of the rollout is refused, naming it; another runs.
    let replica = JobTarget::Container {
        project: Some(project.into()),
        service: Some("api".into()),
        container: member(&docker, &names[2], true),
    };
    commands
        .send(JobCommand::Start(request(2, JobKind::Stop, replica)))
        .unwrap();
    match next_of(&mut rx, JobId(2)).await {
        Progress::Done {
            outcome: JobOutcome::Refused(why),
            ..
        } => {
            assert!(why.contains("job #1"), "{why}")
        }
        other => panic!("expected a refusal: {other:?}"),
    }
    let other = JobTarget::Container {
        project: None,
        service: None,
        container: member(&docker, "jobcancel-other", false),
    };
    commands
        .send(JobCommand::Start(request(3, JobKind::Stop, other)))
        .unwrap();
    loop {
        if let Progress::Done { outcome, .. } = next_of(&mut rx, JobId(3)).await {
            assert_eq!(outcome, JobOutcome::Done("stopped jobcancel-other".into()));
            break;
        }
    }

    commands.send(JobCommand::Cancel(JobId(1))).unwrap();
    let outcome = loop {
        if let Progress::Done { outcome, .. } = next_of(&mut rx, JobId(1)).await {
            break outcome;
        }
    };
    match &outcome {
        JobOutcome::Cancelled { during: Some(step) } => {
            assert!(step.contains("waiting for jobcancel-api-1 (1/3)"), "{step}")
        }
        other => panic!("expected cancelled: {other:?}"),
    }
    assert_ne!(
        started_at(&docker, &names[0]),
        before[0],
        "replica 1 was restarted"
    );
    assert_eq!(
        started_at(&docker, &names[1]),
        before[1],
        "replica 2 untouched"
    );
    assert_eq!(
        started_at(&docker, &names[2]),
        before[2],
        "replica 3 untouched"
    );

    drop(commands);
    runner.await.unwrap();
    docker.remove_project(project, &["jobcancel-other"]);
}
