"""The compiled email path: emails finished once per shape (`shapes`) and filled per
recipient, proven safe from a template's source (`outputflow`), built on Jinja2 3.1's
private code generator. It must give the same emails as the plain render, which is
the reference: a property test compares both, and with AFTERSALE_COMPILED_EMAILS=false,
or another Jinja2 minor version, it is not used at all."""
