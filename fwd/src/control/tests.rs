//! The control protocol, the filters and the socket file's life.

use std::{
    os::unix::{fs::PermissionsExt as _, net::UnixListener as StdUnixListener},
    path::PathBuf,
};

use super::{
    client::{request, ClientError},
    protocol::*,
    server::{parse_request, ControlSocket, ControlSocketError},
};
use crate::testing::socket;

#[test]
fn requests_are_one_json_line_each_way() {
    assert_eq!(
        serde_json::to_string(&Request::Status).unwrap(),
        r#"{"request":"status"}"#
    );
    let filter = FlowFilter {
        service: Some("web".into()),
        snat: Some("198.19.0.1:20001".parse().unwrap()),
        ..Default::default()
    };
    let line = serde_json::to_string(&Request::Flows(filter.clone())).unwrap();
    assert_eq!(
        line,
        r#"{"request":"flows","service":"web","snat":"198.19.0.1:20001"}"#
    );
    assert_eq!(
        parse_request(&format!("{line}\n")),
        Ok(Request::Flows(filter))
    );
    assert_eq!(
        parse_request("{\"request\":\"flows\"}\n"),
        Ok(Request::Flows(FlowFilter::default()))
    );
    // Without the newline (the client closed its side) it is still one request.
    assert_eq!(
        parse_request(r#"{"request":"status"}"#),
        Ok(Request::Status)
    );
    for bad in [
        "\n",
        "status\n",
        "{\"request\":\"reboot\"}\n",
        "{\"request\":\"flows\",\"client\":\"nohost\"}\n",
        "{\"request\":\"flows\",\"port\":80}\n",
    ] {
        let err = parse_request(bad).unwrap_err();
        assert!(err.starts_with("bad request: "), "{bad:?}: {err}");
    }
    let long = format!(
        "{{\"request\":\"flows\",\"service\":\"{}",
        "x".repeat(70_000)
    );
    let err = parse_request(&long[..65_536]).unwrap_err();
    assert!(err.contains("at most 65536 bytes"), "{err}");
}

#[test]
fn responses_round_trip() {
    let responses = [
        Response::Error {
            message: "no service named \"x\"".into(),
        },
        Response::Flows(FlowsReport {
            tracked: 3,
            flows: vec![FlowEntry {
                protocol: "tcp".into(),
                service: "web".into(),
                client: socket("198.18.0.2:40000"),
                vip: socket("198.18.100.1:80"),
                snat: socket("198.19.0.1:20001"),
                backend: socket("198.19.0.10:80"),
                state: "established".into(),
                age_ms: 1500,
                idle_ms: 20,
                to_backend: Count {
                    packets: 3,
                    bytes: 180,
                },
                to_client: Count {
                    packets: 2,
                    bytes: 120,
                },
            }],
        }),
    ];
    for r in responses {
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(
            serde_json::from_str::<Response>(&line).unwrap(),
            r,
            "{line}"
        );
    }
    let line = serde_json::to_string(&Response::Error {
        message: "m".into(),
    })
    .unwrap();
    assert_eq!(line, r#"{"response":"error","message":"m"}"#);
}

#[test]
fn address_filters() {
    let any_port: AddrFilter = "198.19.0.1".parse().unwrap();
    let one_port: AddrFilter = "198.19.0.1:20001".parse().unwrap();
    assert_eq!(any_port.port, None);
    assert_eq!(one_port.to_string(), "198.19.0.1:20001");
    assert!(any_port.matches(socket("198.19.0.1:20001")));
    assert!(any_port.matches(socket("198.19.0.1:5")));
    assert!(!any_port.matches(socket("198.19.0.2:20001")));
    assert!(one_port.matches(socket("198.19.0.1:20001")));
    assert!(!one_port.matches(socket("198.19.0.1:20002")));
    for bad in [
        "",
        "198.19.0",
        "198.19.0.1:",
        "198.19.0.1:70000",
        "host:80",
        "::1",
    ] {
        let err = bad.parse::<AddrFilter>().unwrap_err();
        assert!(err.to_string().contains("IPv4"), "{bad}: {err}");
    }

    let (c, b, s) = (
        socket("198.18.0.2:40000"),
        socket("198.19.0.10:80"),
        socket("198.19.0.1:20001"),
    );
    assert!(FlowFilter::default().matches("web", c, b, s));
    let f =
        |service: Option<&str>, client: Option<&str>, backend: Option<&str>, snat: Option<&str>| {
            FlowFilter {
                service: service.map(String::from),
                client: client.map(|x| x.parse().unwrap()),
                backend: backend.map(|x| x.parse().unwrap()),
                snat: snat.map(|x| x.parse().unwrap()),
            }
        };
    assert!(f(Some("web"), None, None, None).matches("web", c, b, s));
    assert!(!f(Some("db"), None, None, None).matches("web", c, b, s));
    assert!(f(None, Some("198.18.0.2"), None, None).matches("web", c, b, s));
    assert!(!f(None, Some("198.18.0.2:40001"), None, None).matches("web", c, b, s));
    assert!(f(None, None, Some("198.19.0.10:80"), None).matches("web", c, b, s));
    assert!(!f(None, None, Some("198.19.0.11"), None).matches("web", c, b, s));
    assert!(f(None, None, None, Some("198.19.0.1:20001")).matches("web", c, b, s));
    // Every filter must match.
    assert!(!f(Some("web"), None, None, Some("198.19.0.1:20002")).matches("web", c, b, s));
}

/// A directory for socket files, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("fwd-ctl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn socket_file_is_private_refuses_a_live_instance_and_replaces_a_stale_one() {
    let dir = Dir::new("life");
    let path = dir.0.join("run/fwd.sock");
    // No instance yet: a clear error, naming the path.
    let err = request(&path, &Request::Status).unwrap_err();
    assert!(matches!(err, ClientError::NoSocket { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "no running fwd instance (no control socket at {}); start one with `fwd attach`",
            path.display()
        )
    );

    let socket = ControlSocket::bind(&path).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir_mode = std::fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o755);
    // A second instance on the same path is refused (the first answers).
    let err = ControlSocket::bind(&path).err().unwrap();
    assert!(matches!(err, ControlSocketError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("another fwd instance"), "{err}");
    drop(socket);
    assert!(!path.exists(), "removed on drop");

    // A socket file nobody listens on (an instance that was killed).
    drop(StdUnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let err = request(&path, &Request::Status).unwrap_err();
    assert!(matches!(err, ClientError::NotAnswering { .. }), "{err}");
    assert!(
        err.to_string().starts_with("no running fwd instance"),
        "{err}"
    );
    let socket = ControlSocket::bind(&path).unwrap();
    assert!(path.exists());
    drop(socket);

    // Something else at the path is left alone.
    std::fs::write(&path, "not a socket").unwrap();
    let err = ControlSocket::bind(&path).err().unwrap();
    assert!(
        matches!(err, ControlSocketError::NotASocket { .. }),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
}
