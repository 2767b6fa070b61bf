internal import Prometheus

extension ServiceMetrics {
    /// How one webhook delivery attempt ended, the `result` label of
    /// `certvault_webhook_deliveries_total`.
    public enum WebhookResult: String, Sendable, CaseIterable {
        /// The receiver answered 2xx.
        case delivered
        /// It failed and will be tried again.
        case failed
        /// It failed for the last time: parked in the outbox's `dead/`.
        case parked
    }

    nonisolated(unsafe) static let webhookDeliveries = MetricNameDescriptor(
        namespace: "certvault", subsystem: "webhook", metricName: "deliveries", unitName: "total",
        helpText: "Webhook delivery attempts, by result (delivered, failed and retried later, parked after the last attempt).")
    nonisolated(unsafe) static let webhookPending = MetricNameDescriptor(
        namespace: "certvault", subsystem: "webhook", metricName: "pending", unitName: "",
        helpText: "Webhook deliveries waiting in the outbox (one per event and receiver).")
    nonisolated(unsafe) static let webhookParked = MetricNameDescriptor(
        namespace: "certvault", subsystem: "webhook", metricName: "parked", unitName: "",
        helpText: "Webhook deliveries given up on, in the outbox's dead/ folder.")

    /// Defines the webhook metrics (at 0) so that they are emitted before the first delivery;
    /// called when webhooks are configured. Made through the registry, which returns the same
    /// metric for the same name and labels, so calling it again changes nothing.
    public func defineWebhookMetrics() {
        for result in WebhookResult.allCases {
            _ = registry.makeCounter(descriptor: Self.webhookDeliveries, labels: [("result", result.rawValue)])
        }
        _ = registry.makeGauge(descriptor: Self.webhookPending)
        _ = registry.makeGauge(descriptor: Self.webhookParked)
    }

    /// Counts one delivery attempt.
    public func webhookDelivery(_ result: WebhookResult) {
        registry.makeCounter(descriptor: Self.webhookDeliveries, labels: [("result", result.rawValue)]).increment()
    }

    /// Sets the outbox's pending and parked counts.
    public func webhookOutbox(pending: Int, parked: Int) {
        registry.makeGauge(descriptor: Self.webhookPending).set(to: Double(pending))
        registry.makeGauge(descriptor: Self.webhookParked).set(to: Double(parked))
    }
}
