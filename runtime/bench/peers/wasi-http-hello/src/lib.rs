//! `GET /users/:id` answered with `user <id>\n`, as a wasi:http proxy
//! component: what `wasmtime serve` runs in the side-by-side benchmark.

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Hello;

impl Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let id = path.strip_prefix("/users/").unwrap_or("?");
        let headers = Fields::from_list(&[(
            "content-type".to_string(),
            b"text/plain; charset=utf-8".to_vec(),
        )])
        .expect("a valid header");
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("the body, once");
        ResponseOutparam::set(out, Ok(response));
        let stream = body.write().expect("the body's stream, once");
        stream
            .blocking_write_and_flush(format!("user {id}\n").as_bytes())
            .expect("the client reads");
        drop(stream);
        OutgoingBody::finish(body, None).expect("the body ends");
    }
}

wasi::http::proxy::export!(Hello);
