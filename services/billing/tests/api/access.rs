//! Who may do what: the saga (role `service`) and administrators charge, refund and read
//! charges; users and anonymous callers do none of it.

use switchboard::BusError;
use switchboard::proto::billing::v1::{
    BillingClient, GetChargeRequest, ListChargesRequest, RefundRequest, get_charge_reply,
};
use switchboard::proto::switchboard::v1::PageRequest;

use crate::helpers::{charge_request, spawn_app};

#[tokio::test]
async fn a_user_may_not_charge_refund_or_read_charges() {
    let app = spawn_app().await;
    app.charge("b1", 100).await;

    let charge = app.user.charge(charge_request("b2", 100)).await.map(|_| ());
    let refund = app
        .user
        .refund(RefundRequest {
            booking_id: "b1".into(),
        })
        .await
        .map(|_| ());
    let get = app
        .user
        .get_charge(GetChargeRequest {
            booking_id: "b1".into(),
        })
        .await
        .map(|_| ());
    let list = app
        .user
        .list_charges(ListChargesRequest { page: None })
        .await
        .map(|_| ());

    for (result, rpc) in [
        (charge, "charge"),
        (refund, "refund"),
        (get, "get_charge"),
        (list, "list_charges"),
    ] {
        assert!(
            matches!(result, Err(BusError::Service { code: 403, .. })),
            "{rpc}: {result:?}"
        );
    }
    let anonymous = BillingClient::new(app.bus.clone())
        .list_charges(ListChargesRequest { page: None })
        .await;
    assert!(
        matches!(anonymous, Err(BusError::Unauthorized { .. })),
        "{anonymous:?}"
    );
    let untouched = app.refund("b1").await;
    assert_eq!(
        untouched.state(),
        switchboard::proto::billing::v1::ChargeState::Refunded,
        "only the saga's refund took effect"
    );
}

#[tokio::test]
async fn an_unknown_booking_has_no_charge() {
    let app = spawn_app().await;

    let found = app
        .admin
        .get_charge(GetChargeRequest {
            booking_id: "nope".into(),
        })
        .await
        .expect("get_charge");

    assert!(
        matches!(found, get_charge_reply::Outcome::NotFound(ref n) if n.booking_id == "nope"),
        "{found:?}"
    );
}

#[tokio::test]
async fn administrators_and_services_page_through_charges_by_booking_id() {
    let app = spawn_app().await;
    for booking in ["b3", "b1", "b5", "b2", "b4"] {
        app.charge(booking, 100).await;
    }

    for reader in [&app.admin, &app.saga] {
        let mut seen = Vec::new();
        let mut after = String::new();
        loop {
            let page = reader
                .list_charges(ListChargesRequest {
                    page: Some(PageRequest {
                        limit: 2,
                        after: after.clone(),
                    }),
                })
                .await
                .expect("list_charges");
            seen.extend(page.charges.into_iter().map(|c| c.booking_id));
            after = page.page.expect("page info").next;
            if after.is_empty() {
                break;
            }
        }
        assert_eq!(seen, ["b1", "b2", "b3", "b4", "b5"]);
    }
}
