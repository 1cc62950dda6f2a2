//! rust-reader: the Rust twin of `reader`, on `rusm_rs::fetch`. It fetches
//! the URL in its init payload and prints the status, each piece of the
//! body as it arrives, and how it ended. `{"url": ..., "stream": [...]}`
//! POSTs a body streamed from those pieces.

use rusm_rs::fetch::Request;
use serde::Deserialize;

#[derive(Deserialize)]
struct Init {
    url: String,
    #[serde(default)]
    stream: Option<Vec<String>>,
}

#[rusm_rs::main]
fn main(init: Init) {
    let sent = match init.stream {
        None => Request::get(&init.url).send(),
        Some(pieces) => {
            Request::post(&init.url).send_streaming(pieces.into_iter().map(String::into_bytes))
        }
    };
    let mut response = match sent {
        Ok(response) => response,
        Err(e) => return println!("failed: {e}"),
    };
    println!(
        "status {} {} redirected={}",
        response.status, response.url, response.redirected
    );
    if let Some(received) = response.header("x-received-bytes") {
        println!("the server received {received} bytes");
    }
    let mut bytes = 0;
    loop {
        match response.chunk() {
            Ok(Some(chunk)) => {
                bytes += chunk.len();
                println!("chunk {:?}", String::from_utf8_lossy(&chunk));
            }
            Ok(None) => return println!("end, {bytes} bytes"),
            Err(e) => return println!("failed: {e}"),
        }
    }
}
