"""`monitor notify`: deliver SLA near-breach, breach and met events to the people who act on them.

Pure core (time passed in, no I/O): events (parse the contract event), routing (routing file +
route()), contacts (customer_id -> roles), plan (deliveries for one event), delivery (retry
schedule), burst (digest folding), ledger (de-duplication, open PagerDuty incidents), offsets
(commit watermark), render (message bodies, HMAC signature), secrets (env var resolution).
I/O shell: channels/ (webhook, slack, pagerduty, email), state_store (compacted state topic),
notifier (consume -> lanes -> record -> commit), metrics, service (CLI). Settings, Kafka clients,
topics, logging, HTTP and the runner are the shared ones of `monitor.runtime`.
"""
