"""One module per subcommand; `common` holds what the receive commands share."""
