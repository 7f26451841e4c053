"""Appeals: filing, uploads, one-time codes, the automatic re-check."""
