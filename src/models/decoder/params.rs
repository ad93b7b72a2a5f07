//! Every parameter of a [`Decoder`] as [`DynParam`]s, in [`Decoder::visit`]'s order: what an
//! optimizer step, [`clip_grad_norm`](crate::optim::clip_grad_norm) and
//! [`Optimizer::save_state`](crate::optim::Optimizer::save_state) take.

use super::{Block, Decoder};
use crate::autodiff::linear::Linear;
use crate::dim::Dim;
use crate::element::Float;
use crate::optim::DynParam;

fn linear<'a, I: Dim, O: Dim, T: Float>(
    out: &mut Vec<(String, &'a dyn DynParam<T>)>,
    name: &str,
    l: &'a Linear<I, O, T>,
) {
    out.push((format!("{name}.weight"), &l.weight));
    if let Some(b) = &l.bias {
        out.push((format!("{name}.bias"), b));
    }
}

fn linear_mut<'a, I: Dim, O: Dim, T: Float>(
    out: &mut Vec<&'a mut dyn DynParam<T>>,
    l: &'a mut Linear<I, O, T>,
) {
    out.push(&mut l.weight);
    if let Some(b) = &mut l.bias {
        out.push(b);
    }
}

fn block<'a, D: Dim, F: Dim, T: Float>(
    out: &mut Vec<(String, &'a dyn DynParam<T>)>,
    prefix: &str,
    b: &'a Block<D, F, T>,
) {
    let n = |s: &str| format!("{prefix}{s}");
    out.push((n("input_layernorm.weight"), &b.attn_norm));
    for (name, l) in [("q", &b.wq), ("k", &b.wk), ("v", &b.wv), ("o", &b.wo)] {
        linear(out, &n(&format!("self_attn.{name}_proj")), l);
    }
    out.push((n("post_attention_layernorm.weight"), &b.ffn_norm));
    linear(out, &n("mlp.gate_proj"), &b.w1);
    linear(out, &n("mlp.up_proj"), &b.w3);
    linear(out, &n("mlp.down_proj"), &b.w2);
}

impl<Vocab, DModel, Heads, HeadDim, Ffn, T> Decoder<Vocab, DModel, Heads, HeadDim, Ffn, T>
where
    Vocab: Dim,
    DModel: Dim,
    Heads: Dim,
    HeadDim: Dim,
    Ffn: Dim,
    T: Float,
{
    /// Every parameter with its Hugging Face LLaMA name, in [`visit`](Self::visit)'s
    /// order: for [`clip_grad_norm`](crate::optim::clip_grad_norm) (drop the names) and
    /// [`Optimizer::save_state`](crate::optim::Optimizer::save_state).
    pub fn named_params(&self) -> Vec<(String, &dyn DynParam<T>)> {
        let mut out = Vec::with_capacity(2 + 9 * self.blocks.len());
        out.push(("embed_tokens.weight".to_owned(), &self.embedding as _));
        for (i, b) in self.blocks.iter().enumerate() {
            block(&mut out, &format!("layers.{i}."), b);
        }
        out.push(("norm.weight".to_owned(), &self.norm as _));
        if let Some(h) = &self.head {
            linear(&mut out, "lm_head", h);
        }
        out
    }

    /// Every parameter, mutably, in [`named_params`](Self::named_params)' order: what
    /// [`Optimizer::step`](crate::optim::Optimizer::step) takes.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::models::decoder::{Decoder, DecoderConfig};
    /// use shapecheck::optim::{AdamW, Optimizer};
    /// use shapecheck::prelude::*;
    ///
    /// dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
    /// dim!(pub Batch; pub Seq);
    /// let mut model = Decoder::<Vocab, DModel, Heads, HeadDim, Ffn>::init(DecoderConfig::default(), 0);
    /// let ids: Vec<u32> = (0..8).collect();
    /// let mut opt = AdamW::new(Default::default())?;
    /// let tape = Tape::new();
    /// let loss = model.loss(&tape, (Batch::new(2), Seq::new(4)), &ids, &ids).unwrap();
    /// let grads = loss.backward();
    /// let loss = loss.item();
    /// drop(tape);
    /// opt.step_with_loss(loss, &mut model.params_mut(), &grads)?;
    /// assert_eq!(opt.steps(), 1);
    /// # Ok::<(), shapecheck::optim::OptimError>(())
    /// ```
    pub fn params_mut(&mut self) -> Vec<&mut dyn DynParam<T>> {
        let mut out: Vec<&mut dyn DynParam<T>> = Vec::with_capacity(2 + 9 * self.blocks.len());
        out.push(&mut self.embedding);
        for b in &mut self.blocks {
            out.push(&mut b.attn_norm);
            for l in [&mut b.wq, &mut b.wk, &mut b.wv, &mut b.wo] {
                linear_mut(&mut out, l);
            }
            out.push(&mut b.ffn_norm);
            linear_mut(&mut out, &mut b.w1);
            linear_mut(&mut out, &mut b.w3);
            linear_mut(&mut out, &mut b.w2);
        }
        out.push(&mut self.norm);
        if let Some(h) = &mut self.head {
            linear_mut(&mut out, h);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::Param;
    use crate::models::decoder::{DecoderConfig, ParamVisitor};
    use crate::shape::Shape;

    crate::dim!(Vocab = 7; DModel = 8; Heads = 2; HeadDim = 4; Ffn = 12);

    struct Names(Vec<(String, usize)>);
    impl ParamVisitor<f32> for Names {
        fn visit<S: Shape>(&mut self, name: &str, p: &Param<S, f32>) {
            self.0.push((name.to_owned(), p.value().len()));
        }
    }

    /// The lists hold every parameter once, with `visit`'s names and order.
    #[test]
    fn params_match_visit() {
        for tied in [false, true] {
            let config = DecoderConfig {
                layers: 3,
                tied,
                ..DecoderConfig::default()
            };
            let mut model = Decoder::<Vocab, DModel, Heads, HeadDim, Ffn>::init(config, 3);
            let mut names = Names(Vec::new());
            model.visit(&mut names);
            let named: Vec<(String, usize)> = model
                .named_params()
                .iter()
                .map(|(n, p)| (n.clone(), p.values().len()))
                .collect();
            assert_eq!(named, names.0);
            let ids: Vec<_> = model.named_params().iter().map(|(_, p)| p.id()).collect();
            let mut_ids: Vec<_> = model.params_mut().iter().map(|p| p.id()).collect();
            assert_eq!(ids, mut_ids);
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), ids.len());
            let total: usize = named.iter().map(|(_, n)| n).sum();
            assert_eq!(total, model.num_parameters());
        }
    }
}
