"""Running Huifang for years: systemd units (`units`), online backup and restore (`backup`)."""
