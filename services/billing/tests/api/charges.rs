//! Charge and Refund of one booking: at most one charge, a refund that gives it back, and a
//! refund that comes first voiding the booking.

use futures::future::join_all;
use switchboard::BusError;
use switchboard::CallOptions;
use switchboard::proto::billing::v1::{
    ChargeState, Declined, GetChargeRequest, charge_reply, get_charge_reply,
};

use crate::helpers::{charge_request, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_charge_is_taken_once_and_a_repeat_answers_with_it() {
    let app = spawn_app().await;

    let first = app.charge("b1", 1500).await;
    let again = app.charge("b1", 1500).await;
    let stored = app
        .admin
        .get_charge(GetChargeRequest {
            booking_id: "b1".into(),
        })
        .await
        .expect("get_charge");

    let charge = match first {
        charge_reply::Outcome::Charged(charge) => charge,
        other => panic!("{other:?}"),
    };
    assert_eq!(charge.state(), ChargeState::Charged);
    assert_eq!(
        (
            charge.booking_id.as_str(),
            charge.customer_id.as_str(),
            charge.amount_cents
        ),
        ("b1", "ada", 1500)
    );
    assert!(charge.charged_at.is_some() && charge.refunded_at.is_none());
    assert_eq!(again, charge_reply::Outcome::Charged(charge.clone()));
    assert_eq!(stored, get_charge_reply::Outcome::Found(charge));
}

#[tokio::test]
async fn a_charge_repeated_with_one_idempotency_key_answers_the_first_reply() {
    let app = spawn_app().await;
    let send = || {
        app.saga.charge_with(
            charge_request("keyed", 900),
            CallOptions::default().idempotency_key("charge-keyed-1"),
        )
    };

    let (first, concurrent) = tokio::join!(send(), send());

    let first = first.expect("charge");
    assert!(
        matches!(first, charge_reply::Outcome::Charged(_)),
        "{first:?}"
    );
    assert_eq!(concurrent.expect("the repeat"), first);
}

#[tokio::test]
async fn invalid_charges_are_refused_with_400_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (charge_request("b1", 0), "amount_cents"),
        (charge_request("", 100), "booking_id"),
        (
            switchboard::proto::billing::v1::ChargeRequest {
                customer_id: String::new(),
                ..charge_request("b1", 100)
            },
            "customer_id",
        ),
    ];

    for (request, field) in cases {
        match app.saga.charge(request).await {
            Err(BusError::Service {
                code: 400, details, ..
            }) => assert_eq!(details[0].field, field),
            other => panic!("expected 400 on {field}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn at_a_decline_rate_of_one_every_card_is_declined_and_stays_declined() {
    let app = spawn_app_with(
        billing::Faults {
            decline_rate: 1.0,
            ..billing::Faults::default()
        },
        false,
    )
    .await;

    let first = app.charge("b1", 1500).await;
    let again = app.charge("b1", 1500).await;
    let refunded = app.refund("b1").await;

    let declined = charge_reply::Outcome::Declined(Declined {
        booking_id: "b1".into(),
        reason: "card declined".into(),
    });
    assert_eq!(first, declined);
    assert_eq!(again, declined);
    assert_eq!(
        refunded.state(),
        ChargeState::Declined,
        "nothing was taken, so nothing is given back"
    );
    assert_eq!(refunded.decline_reason, "card declined");
}

#[tokio::test]
async fn a_refund_gives_the_charge_back_and_a_late_charge_is_declined() {
    let app = spawn_app().await;
    app.charge("b1", 1500).await;

    let refunded = app.refund("b1").await;
    let again = app.refund("b1").await;
    let late = app.charge("b1", 1500).await;

    assert_eq!(refunded.state(), ChargeState::Refunded);
    assert_eq!(refunded.amount_cents, 1500);
    assert!(refunded.charged_at.is_some() && refunded.refunded_at.is_some());
    assert_eq!(again, refunded, "refunding twice changes nothing");
    assert_eq!(
        late,
        charge_reply::Outcome::Declined(Declined {
            booking_id: "b1".into(),
            reason: "the booking was cancelled".into(),
        })
    );
}

#[tokio::test]
async fn a_refund_before_the_charge_voids_the_booking() {
    let app = spawn_app().await;

    let voided = app.refund("b1").await;
    let late = app.charge("b1", 1500).await;
    let stored = app
        .saga
        .get_charge(GetChargeRequest {
            booking_id: "b1".into(),
        })
        .await
        .expect("get_charge");

    assert_eq!(voided.state(), ChargeState::Voided);
    assert_eq!((voided.amount_cents, voided.charged_at), (0, None));
    assert!(voided.refunded_at.is_some());
    assert_eq!(
        late,
        charge_reply::Outcome::Declined(Declined {
            booking_id: "b1".into(),
            reason: "the booking was cancelled".into(),
        })
    );
    assert_eq!(stored, get_charge_reply::Outcome::Found(voided));
}

#[tokio::test]
async fn a_charge_racing_its_refund_ends_refunded_or_voided_never_charged() {
    let app = spawn_app().await;
    let bookings: Vec<String> = (0..20).map(|n| format!("race-{n:02}")).collect();

    let races = bookings.iter().map(|booking| async {
        let (charged, _) = tokio::join!(app.charge(booking, 700), app.refund(booking));
        let stored = app
            .admin
            .get_charge(GetChargeRequest {
                booking_id: booking.clone(),
            })
            .await
            .expect("get_charge");
        (charged, stored)
    });

    for (charged, stored) in join_all(races).await {
        let stored = match stored {
            get_charge_reply::Outcome::Found(charge) => charge,
            other => panic!("{other:?}"),
        };
        match charged {
            // The charge came first: the refund gave it back.
            charge_reply::Outcome::Charged(_) => assert_eq!(stored.state(), ChargeState::Refunded),
            // The refund came first: the booking is void and nothing was taken.
            charge_reply::Outcome::Declined(_) => assert_eq!(stored.state(), ChargeState::Voided),
        }
    }
}
