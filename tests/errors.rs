//! One error type for code that uses several floors of the crate: `?` lifts a file's
//! `std::io::Error`, a vocab's `VocabError`, an optimizer's `OptimError`, a safetensors
//! file's `LoadError`/`SaveError` and a model's `ModelError` into `shapecheck::Error`, whose
//! message is the inner one and whose source chain goes on below it.

use std::error::Error as _;
use std::fs;
use std::path::{Path, PathBuf};

use shapecheck::inspect::InspectError;
use shapecheck::io::{LoadError, SafeTensors, SafetensorsWriter, SaveError};
use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
use shapecheck::models::ModelError;
use shapecheck::optim::{OptimError, Optimizer, Sgd, SgdConfig};
use shapecheck::prelude::*;
use shapecheck::text::{VocabError, WordPiece};
use shapecheck::Error;

dim!(pub Vocab = 8; pub DModel = 8; pub Heads = 2; pub HeadDim = 4; pub Ffn = 16);

type Model = Decoder<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>>;

/// What a small tool does before training: reads a corpus, tokenizes it with a vocab file,
/// makes an optimizer, reads extra weights and loads a decoder. Each step's error comes
/// from another floor; `?` lifts every one into `shapecheck::Error`.
fn prepare(dir: &Path, lr: f64) -> shapecheck::Result<(usize, Model)> {
    let corpus = fs::read_to_string(dir.join("corpus.txt"))?; // std::io::Error
    let vocab = WordPiece::from_vocab_file(dir.join("vocab.txt"))?; // VocabError
    let tokens = corpus.lines().map(|l| vocab.encode(l, 16).len()).sum();
    let mut opt = Sgd::<f32>::new(SgdConfig {
        lr,
        ..SgdConfig::default()
    })?; // OptimError
    opt.set_lr(lr)?;
    let extra = SafeTensors::open(dir.join("extra.safetensors"))?; // LoadError
    let _: Tensor<(D<2>,)> = extra.load("bias")?;
    let mut out = SafetensorsWriter::new();
    out.add("bias", &Tensor::<(D<2>,)>::zeros())?; // SaveError
    out.write(dir.join("copy.safetensors"))?;
    let model = Model::load(dir.join("decoder.safetensors"))?; // ModelError
    Ok((tokens, model))
}

/// A directory in which `prepare` succeeds.
fn workspace(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shapecheck-errors-{}-{name}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("corpus.txt"), "hello world\nworld\n").unwrap();
    fs::write(
        dir.join("vocab.txt"),
        "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n",
    )
    .unwrap();
    let mut extra = SafetensorsWriter::new();
    extra
        .add(
            "bias",
            &Tensor::<(D<2>,)>::from_vec(vec![1.0, 2.0]).unwrap(),
        )
        .unwrap();
    extra.write(dir.join("extra.safetensors")).unwrap();
    Model::init(DecoderConfig::default(), 0)
        .save(dir.join("decoder.safetensors"))
        .unwrap();
    dir
}

#[test]
fn question_mark_lifts_the_error_of_every_floor() {
    let dir = workspace("floors");
    let (tokens, _) = prepare(&dir, 0.1).expect("everything is in place");
    assert_eq!(tokens, 4 + 3, "[CLS] … [SEP] around each line");

    // Each file broken in turn: the error comes out as the variant of its floor.
    let err = prepare(&dir, -1.0).unwrap_err();
    assert!(
        matches!(&err, Error::Optim(OptimError::Config { .. })),
        "{err:?}"
    );

    fs::write(dir.join("extra.safetensors"), b"not a safetensors file").unwrap();
    let err = prepare(&dir, 0.1).unwrap_err();
    assert!(
        matches!(&err, Error::Load(LoadError::Malformed { .. })),
        "{err:?}"
    );

    fs::remove_file(dir.join("decoder.safetensors")).unwrap();
    fs::copy(dir.join("copy.safetensors"), dir.join("extra.safetensors")).unwrap();
    let err = prepare(&dir, 0.1).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Model(ModelError::Weights(LoadError::Io { .. }))
        ),
        "{err:?}"
    );

    fs::write(dir.join("vocab.txt"), "[PAD]\n[UNK]\nhello\n").unwrap();
    let err = prepare(&dir, 0.1).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Vocab(VocabError::MissingToken { token: "[CLS]" })
        ),
        "{err:?}"
    );

    fs::remove_file(dir.join("corpus.txt")).unwrap();
    let err = prepare(&dir, 0.1).unwrap_err();
    match &err {
        Error::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_save_error_lifts_too() {
    fn save_twice() -> shapecheck::Result<()> {
        let mut w = SafetensorsWriter::new();
        w.add("w", &Tensor::<(D<2>,)>::zeros())?;
        w.add("w", &Tensor::<(D<2>,)>::zeros())?;
        Ok(())
    }
    let err = save_twice().unwrap_err();
    assert!(
        matches!(&err, Error::Save(SaveError::Duplicate { name }) if name == "w"),
        "{err:?}"
    );
}

#[test]
fn the_message_is_the_inner_one_and_the_chain_goes_on_below_it() {
    let missing = Path::new("/nonexistent/shapecheck/weights.safetensors");
    let inner = SafeTensors::open(missing).unwrap_err();
    let inner_message = inner.to_string();
    let os_message = inner
        .source()
        .expect("a failed read has a cause")
        .to_string();
    let err = Error::from(inner);
    assert_eq!(err.to_string(), inner_message);
    assert!(err.to_string().contains("weights.safetensors"));

    // The wrapper adds no message of its own: its source is the inner error's source (the
    // operating system's error), so walking the chain prints each message once.
    let source = err.source().expect("the chain goes on below the LoadError");
    assert!(source.downcast_ref::<std::io::Error>().is_some());
    assert_eq!(source.to_string(), os_message);
    let mut chain = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        chain.push(e.to_string());
        next = e.source();
    }
    assert_eq!(chain, [inner_message, os_message]);

    // An error with no cause of its own ends the chain at the wrapper.
    let shape = Tensor::<(Dyn,)>::from_vec_with((Dyn::new(3),), vec![1.0]).unwrap_err();
    let err = Error::from(shape.clone());
    assert_eq!(err.to_string(), shape.to_string());
    assert!(err.source().is_none());
}

#[test]
fn the_error_crosses_threads_and_boxes() {
    fn assert_send_sync<E: Send + Sync + 'static>() {}
    assert_send_sync::<Error>();
    fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let r: shapecheck::Result<()> = Err(Error::from(std::io::Error::other("disk full")));
        r?;
        Ok(())
    }
    assert_eq!(boxed().unwrap_err().to_string(), "disk full");
}

#[test]
fn an_inspect_error_keeps_what_it_can_name() {
    // Shape, numeric and model errors keep their own variants; an inspect error comes back
    // as itself; anything else is carried whole, with its message.
    let shape = Tensor::<(Dyn,)>::from_vec_with((Dyn::new(3),), vec![1.0]).unwrap_err();
    assert!(matches!(
        InspectError::from(Error::from(shape)),
        InspectError::Shape(_)
    ));
    let own = InspectError::Labels {
        points: 3,
        labels: 2,
    };
    let message = own.to_string();
    let back = InspectError::from(Error::from(own));
    assert!(matches!(back, InspectError::Labels { .. }));
    assert_eq!(back.to_string(), message);
    let io = InspectError::from(Error::from(std::io::Error::other("disk full")));
    assert!(matches!(&io, InspectError::Other(e) if matches!(**e, Error::Io(_))));
    assert_eq!(io.to_string(), "disk full");
}
