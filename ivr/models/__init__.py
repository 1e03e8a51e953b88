"""Speech (Vosk) models a lender installs: check a model's layout, unpack it, record it in the settings
file, and check that every grammar phrase can be decoded by it (`ivr models ...`,
`ivr asr check-grammar`)."""
