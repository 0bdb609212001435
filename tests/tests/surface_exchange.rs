//! exchange.declare (every type, every flag, the `alternate-exchange` argument), exchange.delete
//! (`if_unused`, `nowait`), exchange.bind / exchange.unbind (RabbitMQ's exchange-to-exchange
//! bindings), against the shared broker.

mod common;

use amqp_client::{
    ExchangeBindOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, ExchangeUnbindOptions,
    FieldTable, ReplyCode,
};
use common::*;

#[tokio::test]
async fn every_exchange_type_declares_and_passive_declare_checks_it() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let mut names = Vec::new();
    for kind in ["direct", "fanout", "topic", "headers"] {
        let name = cleanup.exchange(amqp_testkit::unique_name(&format!("x-{kind}")));
        declare_exchange(&ch, &name, kind, Default::default(), FieldTable::new()).await;
        exchange_exists(&ch, &name)
            .await
            .unwrap_or_else(|e| panic!("passive declare of {name}: {e}"));
        names.push((name, kind));
    }

    // Same name, other type: 406, and only that channel closes.
    let (direct, _) = &names[0];
    let result = step(
        "redeclare as fanout",
        ch.exchange_declare(direct, "fanout", Default::default(), FieldTable::new()),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::PRECONDITION_FAILED);
    assert!(text.contains("type"), "{text}");
    assert!(conn.is_open());

    // A passive declare of a missing exchange: 404, on that channel only.
    assert_no_exchange(&conn, &amqp_testkit::unique_name("x-missing")).await;

    let ch = channel(&conn).await;
    for (name, _) in &names {
        step(
            "exchange.delete",
            ch.exchange_delete(name, Default::default()),
        )
        .await
        .unwrap();
        assert_no_exchange(&conn, name).await;
    }
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn durable_flag_is_checked_on_redeclare_and_auto_delete_goes_with_its_last_binding() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let durable_x = cleanup.exchange(amqp_testkit::unique_name("x-durable"));
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    declare_exchange(&ch, &durable_x, "direct", durable, FieldTable::new()).await;
    declare_exchange(&ch, &durable_x, "direct", durable, FieldTable::new()).await;
    let result = step(
        "redeclare not durable",
        ch.exchange_declare(&durable_x, "direct", Default::default(), FieldTable::new()),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::PRECONDITION_FAILED);
    assert!(text.contains("durable"), "{text}");

    let ch = channel(&conn).await;
    let auto_x = cleanup.exchange(amqp_testkit::unique_name("x-auto"));
    let q = cleanup.queue(fresh_queue(&ch, "q-auto").await);
    let auto_delete = ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    declare_exchange(&ch, &auto_x, "fanout", auto_delete, FieldTable::new()).await;
    bind(&ch, &q, &auto_x, "").await;
    exchange_exists(&ch, &auto_x)
        .await
        .expect("still bound: still there");
    unbind(&ch, &q, &auto_x, "").await;
    // RabbitMQ deletes an auto-delete exchange as part of removing its last binding.
    assert_no_exchange(&conn, &auto_x).await;

    step(
        "exchange.delete",
        ch.exchange_delete(&durable_x, Default::default()),
    )
    .await
    .unwrap();
    assert_no_exchange(&conn, &durable_x).await;
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn an_internal_exchange_refuses_publishes_but_takes_exchange_to_exchange_routing() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let internal_x = cleanup.exchange(amqp_testkit::unique_name("x-internal"));
    let front_x = cleanup.exchange(amqp_testkit::unique_name("x-front"));
    let q = cleanup.queue(fresh_queue(&ch, "q-internal").await);
    let internal = ExchangeDeclareOptions {
        internal: true,
        ..Default::default()
    };
    declare_exchange(&ch, &internal_x, "fanout", internal, FieldTable::new()).await;
    declare_plain_exchange(&ch, &front_x, "fanout").await;
    bind(&ch, &q, &internal_x, "").await;
    step(
        "exchange.bind",
        ch.exchange_bind(
            &internal_x,
            &front_x,
            "",
            Default::default(),
            FieldTable::new(),
        ),
    )
    .await
    .unwrap();

    publish_plain(&ch, &front_x, "", "through the front").await;
    assert_eq!(
        take_body(&ch, &q).await.as_deref(),
        Some("through the front")
    );

    let result = publish(
        &ch,
        &internal_x,
        "",
        Default::default(),
        Default::default(),
        "direct to internal",
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::ACCESS_REFUSED);
    assert!(text.contains("internal"), "{text}");

    let ch = channel(&conn).await;
    assert_eq!(
        counts(&ch, &q).await,
        (0, 0),
        "the refused message is not in the queue"
    );
    step(
        "exchange.delete",
        ch.exchange_delete(&front_x, Default::default()),
    )
    .await
    .unwrap();
    step(
        "exchange.delete",
        ch.exchange_delete(&internal_x, Default::default()),
    )
    .await
    .unwrap();
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn nowait_declare_and_delete_return_at_once_and_take_effect_in_order() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let name = cleanup.exchange(amqp_testkit::unique_name("x-nowait"));
    let nowait = ExchangeDeclareOptions {
        nowait: true,
        ..Default::default()
    };
    declare_exchange(&ch, &name, "topic", nowait, FieldTable::new()).await;
    // The channel handles methods in order: the passive declare sees the exchange.
    exchange_exists(&ch, &name)
        .await
        .expect("declared without waiting");

    let delete_nowait = ExchangeDeleteOptions {
        nowait: true,
        ..Default::default()
    };
    step(
        "exchange.delete nowait",
        ch.exchange_delete(&name, delete_nowait),
    )
    .await
    .unwrap();
    let result = exchange_exists(&ch, &name).await;
    expect_channel_closed(result, ReplyCode::NOT_FOUND);
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn an_unroutable_message_lands_in_the_alternate_exchanges_queue() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let alternate_x = cleanup.exchange(amqp_testkit::unique_name("x-alternate"));
    let main_x = cleanup.exchange(amqp_testkit::unique_name("x-main"));
    let unrouted_q = cleanup.queue(fresh_queue(&ch, "q-unrouted").await);
    let known_q = cleanup.queue(fresh_queue(&ch, "q-known").await);
    declare_plain_exchange(&ch, &alternate_x, "fanout").await;
    let arguments = FieldTable::new().with("alternate-exchange", alternate_x.as_str());
    declare_exchange(&ch, &main_x, "direct", Default::default(), arguments).await;
    bind(&ch, &unrouted_q, &alternate_x, "").await;
    bind(&ch, &known_q, &main_x, "known").await;

    publish_plain(&ch, &main_x, "known", "routed").await;
    // Mandatory too: the alternate exchange counts as a route, so nothing comes back.
    publish_mandatory(&ch, &main_x, "nobody-binds-this", "unroutable").await;

    assert_eq!(drain_bodies(&ch, &known_q).await, ["routed"]);
    assert_eq!(drain_bodies(&ch, &unrouted_q).await, ["unroutable"]);

    step(
        "exchange.delete",
        ch.exchange_delete(&main_x, Default::default()),
    )
    .await
    .unwrap();
    step(
        "exchange.delete",
        ch.exchange_delete(&alternate_x, Default::default()),
    )
    .await
    .unwrap();
    delete(&ch, &unrouted_q).await;
    delete(&ch, &known_q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn exchange_delete_if_unused_is_refused_with_406_while_a_queue_is_bound() {
    let conn = connect().await;
    let ch = channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let name = cleanup.exchange(amqp_testkit::unique_name("x-in-use"));
    let q = cleanup.queue(fresh_queue(&ch, "q-in-use").await);
    declare_plain_exchange(&ch, &name, "direct").await;
    bind(&ch, &q, &name, "k").await;
    let if_unused = ExchangeDeleteOptions {
        if_unused: true,
        ..Default::default()
    };
    let result = step(
        "exchange.delete if_unused",
        ch.exchange_delete(&name, if_unused),
    )
    .await;
    let text = expect_channel_closed(result, ReplyCode::PRECONDITION_FAILED);
    assert!(text.contains("in use"), "{text}");
    assert!(conn.is_open());

    let ch = channel(&conn).await;
    exchange_exists(&ch, &name)
        .await
        .expect("a refused delete leaves it");
    unbind(&ch, &q, &name, "k").await;
    step(
        "exchange.delete if_unused, now unused",
        ch.exchange_delete(&name, if_unused),
    )
    .await
    .unwrap();
    assert_no_exchange(&conn, &name).await;
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test]
async fn exchange_to_exchange_binding_routes_until_unbound() {
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let mut cleanup = Cleanup::new();
    let source = cleanup.exchange(amqp_testkit::unique_name("x-source"));
    let destination = cleanup.exchange(amqp_testkit::unique_name("x-destination"));
    let q = cleanup.queue(fresh_queue(&ch, "q-e2e").await);
    declare_plain_exchange(&ch, &source, "direct").await;
    declare_plain_exchange(&ch, &destination, "fanout").await;
    bind(&ch, &q, &destination, "").await;

    for nowait in [false, true] {
        let bind_options = ExchangeBindOptions { nowait };
        step(
            "exchange.bind",
            ch.exchange_bind(&destination, &source, "k", bind_options, FieldTable::new()),
        )
        .await
        .unwrap();
        publish_mandatory(&ch, &source, "k", "bound").await;
        publish_returned(&ch, &source, "other-key", "wrong key").await;
        let returned = step("basic.return", ch.next_return())
            .await
            .expect("the channel is open");
        assert_eq!(returned.reply_code, ReplyCode::NO_ROUTE);
        assert_eq!(&returned.body[..], b"wrong key");
        assert_eq!(drain_bodies(&ch, &q).await, ["bound"], "nowait: {nowait}");

        let unbind_options = ExchangeUnbindOptions { nowait };
        step(
            "exchange.unbind",
            ch.exchange_unbind(
                &destination,
                &source,
                "k",
                unbind_options,
                FieldTable::new(),
            ),
        )
        .await
        .unwrap();
        publish_returned(&ch, &source, "k", "after unbind").await;
        let returned = step("basic.return", ch.next_return())
            .await
            .expect("the channel is open");
        assert_eq!(returned.reply_code, ReplyCode::NO_ROUTE, "nowait: {nowait}");
        assert_eq!(&returned.body[..], b"after unbind");
        assert_eq!(counts(&ch, &q).await, (0, 0), "nowait: {nowait}");
    }

    step(
        "exchange.delete",
        ch.exchange_delete(&source, Default::default()),
    )
    .await
    .unwrap();
    step(
        "exchange.delete",
        ch.exchange_delete(&destination, Default::default()),
    )
    .await
    .unwrap();
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}
