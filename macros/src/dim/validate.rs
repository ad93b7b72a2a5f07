//! Rules on a parsed `dim!`: sizes are nonzero, fit in `usize`, and carry no float suffix.

use super::parse::DimDecls;

/// Checks every declaration; the first error points at the offending literal.
pub(crate) fn validate(decls: DimDecls) -> syn::Result<DimDecls> {
    for decl in &decls.0 {
        let Some(lit) = &decl.size else { continue };
        let name = &decl.name;
        match lit.suffix() {
            "" | "usize" => {}
            other => {
                return Err(syn::Error::new(
                    lit.span(),
                    format!("the size of `{name}` is a `usize`; remove the `{other}` suffix"),
                ))
            }
        }
        let value: u128 = lit.base10_parse().map_err(|_| {
            syn::Error::new(
                lit.span(),
                format!("the size of `{name}` does not fit in usize"),
            )
        })?;
        if value == 0 {
            return Err(syn::Error::new(
                lit.span(),
                format!("`{name}` must have a size of at least 1; a dim of size 0 holds nothing"),
            ));
        }
        if value > usize::MAX as u128 {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "the size of `{name}` ({value}) does not fit in usize (at most {})",
                    usize::MAX
                ),
            ));
        }
    }
    Ok(decls)
}

/// The size of a validated static declaration.
pub(crate) fn size_of(lit: &syn::LitInt) -> usize {
    lit.base10_parse().expect("validated before expansion")
}
