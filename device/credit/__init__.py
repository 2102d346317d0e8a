# Prepaid credit (docs/relay.md, docs/tokens.md): core.Credit is the facade.
