//! Connection spreading over the endpoint's addresses, re-resolution, and reconnecting after a
//! gateway drained its connections (GOAWAY).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bedrock_emulator::EmulatorConfig;
use bedrock_gateway_client::{Client, Request};
use common::{Gateway, fast_retries};

/// A client for `gateway.test`, a name that resolves to whatever `addresses` holds at the time.
fn client_for(addresses: Arc<Mutex<Vec<SocketAddr>>>) -> Client {
    fast_retries(Client::builder("http://gateway.test:50051"))
        .resolver(move |host, port| {
            assert_eq!((host, port), ("gateway.test", 50051));
            let addresses = addresses.lock().unwrap().clone();
            Box::pin(async move { Ok(addresses) })
        })
        .resolve_interval(Duration::from_millis(50))
        .build()
        .unwrap()
}

async fn ask(client: &Client, calls: usize) {
    for i in 0..calls {
        client.converse(Request::new("chat").user(format!("call {i}")).max_tokens(2)).await.unwrap();
    }
}

#[tokio::test]
async fn calls_are_spread_over_all_resolved_addresses() {
    let gateways = [Gateway::start().await, Gateway::start().await, Gateway::start().await];
    let client = client_for(Arc::new(Mutex::new(gateways.iter().map(|g| g.addr).collect())));
    ask(&client, 30).await;
    let served: Vec<u64> = gateways.iter().map(|g| g.emulator.requests_served()).collect();
    assert_eq!(served.iter().sum::<u64>(), 30);
    assert!(served.iter().all(|&n| n > 0), "every gateway serves some calls: {served:?}");
}

#[tokio::test]
async fn the_static_address_list_is_used_like_a_resolver() {
    let gateways = [Gateway::start().await, Gateway::start().await];
    let client = fast_retries(Client::builder("http://gateway.test"))
        .addresses(gateways.iter().map(|g| g.addr))
        .connections_per_address(2)
        .build()
        .unwrap();
    ask(&client, 20).await;
    assert!(gateways.iter().all(|g| g.emulator.requests_served() > 0));
}

#[tokio::test]
async fn follows_address_changes_on_re_resolution() {
    let (first, second) = (Gateway::start().await, Gateway::start().await);
    let addresses = Arc::new(Mutex::new(vec![first.addr]));
    let client = client_for(addresses.clone());
    ask(&client, 3).await;
    assert_eq!(first.emulator.requests_served(), 3);

    *addresses.lock().unwrap() = vec![second.addr];
    tokio::time::sleep(Duration::from_millis(200)).await;
    ask(&client, 5).await;
    assert_eq!(first.emulator.requests_served(), 3, "the old address is no longer used");
    assert_eq!(second.emulator.requests_served(), 5);
}

#[tokio::test]
async fn reconnects_after_the_gateway_drained_its_connections() {
    let first = Gateway::start().await;
    let addr = first.addr;
    let client = fast_retries(Client::builder(first.url())).connections_per_address(1).build().unwrap();
    ask(&client, 2).await;

    // The gateway drains (GOAWAY) and a new one takes its place on the same address, as when an
    // NLB target is replaced.
    first.stop().await.unwrap();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let second = Gateway::start_on(listener, EmulatorConfig::default(), |_| {}).await;
    ask(&client, 2).await;
    assert_eq!(second.emulator.requests_served(), 2);
}

#[tokio::test]
async fn new_calls_go_to_the_replacement_while_a_draining_gateway_finishes_its_stream() {
    let pacing = EmulatorConfig { inter_token_gap: Duration::from_millis(40), ..Default::default() };
    let mut draining = Gateway::start_with_emulator(pacing, |_| {}).await;
    let addr = draining.addr;
    let client = fast_retries(Client::builder(draining.url())).connections_per_address(1).build().unwrap();
    let in_flight = client.converse_stream(Request::new("chat").user("long answer")).await.unwrap();

    draining.begin_shutdown();
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => break listener,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    let replacement = Gateway::start_on(listener, EmulatorConfig::default(), |_| {}).await;
    ask(&client, 2).await;
    assert_eq!(replacement.emulator.requests_served(), 2);

    let answer = in_flight.answer().await.unwrap();
    assert_eq!(answer.usage.output_tokens, common::ANSWER_TOKENS as u32, "the drained stream completes");
}
