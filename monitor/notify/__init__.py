"""`monitor notify`: deliver SLA near-breach, breach and met events to the people who act on them.

Pure core: events, routing, contacts, delivery (retry schedule), burst (digest folding),
ledger (de-duplication), offsets (commit watermark), render (message bodies).
I/O shell: channels/, state_store, notifier, web, service.
"""
