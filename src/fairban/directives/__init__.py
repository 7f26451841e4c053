"""Directives as the case store keeps them: each loaded directive, its versions (an
amendment is a new version), and its kill switch. Below cases and platforms: both ask
whether a directive is paused and which version is current."""
