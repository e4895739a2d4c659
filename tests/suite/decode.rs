//! JavaScript values read as Rust types (`outbox_sync::decode`, the
//! package's own deserializer): what `serde_wasm_bindgen` writes reads back
//! the same, and what does not fit is refused with serde's sentence.

use std::collections::HashMap;

use js_sys::{Array, Map, Object, Reflect, Set, Uint8Array};
use outbox_sync::core::EventState;
use outbox_sync::decode::from_value;
use outbox_sync_protocol::Value;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Shape {
    Dot,
    Circle(u32),
    Box { w: u32, h: u32 },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Tagged {
    Plain { id: String },
    Counted { id: String, n: i64 },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Sample {
    seq: u64,
    delta: i32,
    ratio: f64,
    name: String,
    missing: Option<String>,
    present: Option<u64>,
    shapes: Vec<Shape>,
    tagged: Vec<Tagged>,
    by_name: HashMap<String, u32>,
    state: EventState,
    fields: Value,
}

fn sample() -> Sample {
    Sample {
        seq: 9_007_199_254_740_991,
        delta: -7,
        ratio: 0.25,
        name: "Zoë".into(),
        missing: None,
        present: Some(3),
        shapes: vec![Shape::Dot, Shape::Circle(2), Shape::Box { w: 1, h: 2 }],
        tagged: vec![
            Tagged::Plain { id: "a".into() },
            Tagged::Counted {
                id: "b".into(),
                n: -4,
            },
        ],
        by_name: HashMap::from([("x".into(), 1), ("y".into(), 2)]),
        state: EventState::Syncing,
        fields: Value::Array(vec![
            Value::Number(1.5),
            Value::Null,
            Value::Bool(true),
            Value::String("s".into()),
        ]),
    }
}

#[wasm_bindgen_test]
fn what_serde_wasm_bindgen_writes_reads_back_the_same() {
    let written = sample()
        .serialize(&serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true))
        .unwrap();
    assert_eq!(from_value::<Sample>(written).unwrap(), sample());
    let json = sample()
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap();
    assert_eq!(from_value::<Sample>(json).unwrap(), sample());
}

#[wasm_bindgen_test]
fn a_struct_reads_its_own_fields_and_skips_other_keys() {
    let object = sample()
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap();
    Reflect::set(&object, &"unknown".into(), &"ignored".into()).unwrap();
    Reflect::set(&object, &"missing".into(), &JsValue::UNDEFINED).unwrap();
    Reflect::set(&object, &"present".into(), &JsValue::NULL).unwrap();
    let read = from_value::<Sample>(object).unwrap();
    assert_eq!(read.missing, None);
    assert_eq!(read.present, None);
}

#[wasm_bindgen_test]
fn a_wrong_value_is_refused_with_what_was_found_and_expected() {
    let object = sample()
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap();
    Reflect::set(&object, &"seq".into(), &JsValue::from_f64(1.5)).unwrap();
    let error = from_value::<Sample>(object.clone())
        .unwrap_err()
        .to_string();
    assert_eq!(error, "invalid type: floating point `1.5`, expected u64");

    Reflect::set(&object, &"seq".into(), &JsValue::from_f64(-1.0)).unwrap();
    let error = from_value::<Sample>(object.clone())
        .unwrap_err()
        .to_string();
    assert_eq!(error, "invalid value: integer `-1`, expected u64");

    Reflect::set(&object, &"seq".into(), &"12".into()).unwrap();
    let error = from_value::<Sample>(object.clone())
        .unwrap_err()
        .to_string();
    assert_eq!(error, "invalid type: string \"12\", expected u64");

    Reflect::set(&object, &"seq".into(), &JsValue::from_f64(12.0)).unwrap();
    Reflect::set(&object, &"state".into(), &"lost".into()).unwrap();
    let error = from_value::<Sample>(object.clone())
        .unwrap_err()
        .to_string();
    assert!(error.contains("lost"), "{error}");

    let error = from_value::<Sample>(Object::new().into())
        .unwrap_err()
        .to_string();
    assert_eq!(error, "missing field `seq`");
    assert!(from_value::<Sample>(JsValue::NULL).is_err());
}

#[wasm_bindgen_test]
fn an_enum_is_its_name_or_an_object_with_one_key() {
    assert_eq!(from_value::<Shape>("Dot".into()).unwrap(), Shape::Dot);
    let circle = Object::new();
    Reflect::set(&circle, &"Circle".into(), &JsValue::from_f64(4.0)).unwrap();
    assert_eq!(
        from_value::<Shape>(circle.clone().into()).unwrap(),
        Shape::Circle(4)
    );
    Reflect::set(&circle, &"Dot".into(), &JsValue::NULL).unwrap();
    let error = from_value::<Shape>(circle.into()).unwrap_err().to_string();
    assert!(error.contains("an object with one key"), "{error}");
}

#[wasm_bindgen_test]
fn fields_read_maps_and_bytes_as_data_and_refuse_sets() {
    let map = Map::new();
    map.set(&"k".into(), &JsValue::from_f64(1.0));
    let value = from_value::<Value>(map.into()).unwrap();
    let Value::Object(entries) = value else {
        panic!("{value:?}")
    };
    assert_eq!(entries.get("k"), Some(&Value::Number(1.0)));

    let bytes = from_value::<Value>(Uint8Array::from(&[7u8, 8][..]).into()).unwrap();
    assert_eq!(
        bytes,
        Value::Array(vec![Value::Number(7.0), Value::Number(8.0)])
    );

    let set = Set::new(&Array::of1(&JsValue::from_f64(1.0)));
    assert!(from_value::<Value>(set.into()).is_err());
    let nested = Array::of1(&Object::new());
    let read = from_value::<Value>(nested.into()).unwrap();
    assert_eq!(read, Value::Array(vec![Value::Object(Default::default())]));
}
