//! Refusals as kube-apiserver sends them: a `metav1.Status` JSON body,
//! whose `message` kubectl prints (`error: You must be logged in to the
//! server (MESSAGE)`), so every message says what to run next.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;

/// A refusal with its Kubernetes `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: StatusCode,
    pub message: String,
}

impl Refusal {
    pub fn unauthorized(message: impl Into<String>) -> Refusal {
        Refusal {
            code: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Refusal {
        Refusal {
            code: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Refusal {
        Refusal {
            code: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }

    pub fn bad_gateway(message: impl Into<String>) -> Refusal {
        Refusal {
            code: StatusCode::BAD_GATEWAY,
            message: message.into(),
        }
    }

    /// `StatusReason` as metav1 spells it.
    fn reason(&self) -> &'static str {
        match self.code {
            StatusCode::UNAUTHORIZED => "Unauthorized",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
            StatusCode::BAD_REQUEST => "BadRequest",
            _ => "InternalError",
        }
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason(),
            "code": self.code.as_u16(),
        })
    }

    pub fn response(&self) -> Response<Full<Bytes>> {
        let mut resp = Response::new(Full::new(Bytes::from(self.body().to_string())));
        *resp.status_mut() = self.code;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        resp
    }
}
