public import CertVaultOnboarding
public import CertVaultVault
internal import CertVaultCore
internal import Foundation
public import Prometheus
internal import Synchronization

/// The service's Prometheus metrics, every one defined once, when this object is made (the
/// registry stops the process when one name is registered again with another type, help text
/// or label shape). `GET /metrics` emits them (``MetricsController``); names and types are in
/// docs/metrics.md.
///
/// | name | type | labels |
/// | --- | --- | --- |
/// | `certvault_http_requests_total` | counter | `method`, `route` (the route's pattern), `status` |
/// | `certvault_http_request_duration_seconds` | histogram | `method`, `route` |
/// | `certvault_onboardings` | gauge | `state` (every onboarding state, 0 when none) |
/// | `certvault_vb365_calls_total` | counter | `outcome` (`success`, `http-error`, `transport-error`) |
/// | `certvault_vb365_call_errors_total` | counter | |
/// | `certvault_audit_records_total` | counter | |
/// | `certvault_audit_commits_total` | counter | |
/// | `certvault_audit_record_failures_total` | counter | |
/// | `certvault_tenants` | gauge | |
/// | `certvault_certificate_expiration_timestamp_seconds` | gauge | `tenant` |
/// | `certvault_renewal_tenants` | gauge | `state` (every renewal state, 0 when none) |
/// | `certvault_vb365_drift_tenants` | gauge | `kind` (every kind of drift, 0 when none) |
/// | `certvault_renewal_passes_total` | counter | `outcome` (`completed`, `failed`) |
/// | `certvault_renewal_last_pass_timestamp_seconds` | gauge | |
public final class ServiceMetrics: Sendable {
    /// The registry `GET /metrics` emits.
    public let registry: PrometheusCollectorRegistry

    /// How a VB365 call ended, for ``vb365Call(outcome:)``.
    public enum VB365Outcome: String, Sendable, CaseIterable {
        /// A 2xx answer.
        case success
        /// An answer with an error status (4xx, 5xx).
        case httpError = "http-error"
        /// No answer: connection, TLS or timeout.
        case transportError = "transport-error"
    }

    /// The upper bounds of the request duration histogram's buckets.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .microseconds(2_500_000), .seconds(5), .seconds(10),
    ]

    nonisolated(unsafe) static let requests = MetricNameDescriptor(
        namespace: "certvault", subsystem: "http", metricName: "requests", unitName: "total",
        helpText: "HTTP requests answered, by method, route pattern and status.")
    nonisolated(unsafe) static let duration = MetricNameDescriptor(
        namespace: "certvault", subsystem: "http", metricName: "request_duration", unitName: "seconds",
        helpText: "Time from a request's head until its response is ready to send, by method and route pattern.")
    nonisolated(unsafe) static let onboardings = MetricNameDescriptor(
        namespace: "certvault", metricName: "onboardings", unitName: "",
        helpText: "Onboardings in the onboarding store, by state.")
    nonisolated(unsafe) static let vb365Calls = MetricNameDescriptor(
        namespace: "certvault", subsystem: "vb365", metricName: "calls", unitName: "total",
        helpText: "Calls to the VB365 REST API, by outcome.")
    nonisolated(unsafe) static let vb365Errors = MetricNameDescriptor(
        namespace: "certvault", subsystem: "vb365", metricName: "call_errors", unitName: "total",
        helpText: "Calls to the VB365 REST API that failed (an error status or no answer).")
    nonisolated(unsafe) static let auditRecords = MetricNameDescriptor(
        namespace: "certvault", subsystem: "audit", metricName: "records", unitName: "total",
        helpText: "Audit records of credential reads made durable by the group commit.")
    nonisolated(unsafe) static let auditCommits = MetricNameDescriptor(
        namespace: "certvault", subsystem: "audit", metricName: "commits", unitName: "total",
        helpText: "Group commits of the audit log (one write and one fsync each).")
    nonisolated(unsafe) static let auditFailures = MetricNameDescriptor(
        namespace: "certvault", subsystem: "audit", metricName: "record_failures", unitName: "total",
        helpText: "Audit records that could not be made durable (their reads failed and released nothing).")
    nonisolated(unsafe) static let tenants = MetricNameDescriptor(
        namespace: "certvault", metricName: "tenants", unitName: "",
        helpText: "Tenants with at least one generation in the vault.")
    nonisolated(unsafe) static let expiry = MetricNameDescriptor(
        namespace: "certvault", subsystem: "certificate", metricName: "expiration_timestamp", unitName: "seconds",
        helpText: "Expiry (notAfter, Unix time) of each tenant's newest active certificate.")

    nonisolated(unsafe) static let renewalTenants = MetricNameDescriptor(
        namespace: "certvault", subsystem: "renewal", metricName: "tenants", unitName: "",
        helpText: "Onboarded tenants by renewal state (the scheduler's view of the certificate VB365 uses).")
    nonisolated(unsafe) static let driftTenants = MetricNameDescriptor(
        namespace: "certvault", subsystem: "vb365", metricName: "drift_tenants", unitName: "",
        helpText: "Tenants on which VB365 disagrees with the vault, by kind of drift (last drift check).")
    nonisolated(unsafe) static let renewalPasses = MetricNameDescriptor(
        namespace: "certvault", subsystem: "renewal", metricName: "passes", unitName: "total",
        helpText: "Renewal scheduler passes, by outcome (failed: the records or the vault could not be read).")
    nonisolated(unsafe) static let renewalLastPass = MetricNameDescriptor(
        namespace: "certvault", subsystem: "renewal", metricName: "last_pass_timestamp", unitName: "seconds",
        helpText: "When the renewal scheduler last completed a pass (Unix time; 0 before the first).")

    let onboardingGauges: [String: Gauge]
    let renewalGauges: [RenewalState.State: Gauge]
    let driftGauges: [RenewalState.Drift.Kind: Gauge]
    let renewalPassCounters: [Bool: Counter]
    let renewalLastPassGauge: Gauge
    let vb365Counters: [VB365Outcome: Counter]
    let vb365ErrorCounter: Counter
    let auditRecordCounter: Counter
    let auditCommitCounter: Counter
    let auditFailureCounter: Counter
    let tenantGauge: Gauge
    /// The per-tenant expiry gauges, and the audit statistics last added to the counters.
    let state = Mutex(State())

    struct State {
        /// Per tenant, the expiry of its newest active certificate (Unix seconds). Emitted by
        /// ``text()`` itself rather than as 10,000 registry gauges: the registry copies a labelled
        /// family on every registration, so building one gauge per tenant grows as the square of
        /// the tenant count (23 s for 10,000 tenants in a debug build; docs/benchmarks.md).
        var expiry: [String: Int64] = [:]
        var audit = AuditCommitter.Statistics()
    }

    /// Defines every metric in a new registry.
    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        var onboardingGauges: [String: Gauge] = [:]
        for state in OnboardingRecord.State.allCases {
            onboardingGauges[state.rawValue] = registry.makeGauge(descriptor: Self.onboardings, labels: [("state", state.rawValue)])
        }
        self.onboardingGauges = onboardingGauges
        var renewalGauges: [RenewalState.State: Gauge] = [:]
        for state in RenewalState.State.allCases {
            renewalGauges[state] = registry.makeGauge(descriptor: Self.renewalTenants, labels: [("state", state.rawValue)])
        }
        self.renewalGauges = renewalGauges
        var driftGauges: [RenewalState.Drift.Kind: Gauge] = [:]
        for kind in RenewalState.Drift.Kind.allCases {
            driftGauges[kind] = registry.makeGauge(descriptor: Self.driftTenants, labels: [("kind", kind.rawValue)])
        }
        self.driftGauges = driftGauges
        renewalPassCounters = [
            true: registry.makeCounter(descriptor: Self.renewalPasses, labels: [("outcome", "completed")]),
            false: registry.makeCounter(descriptor: Self.renewalPasses, labels: [("outcome", "failed")]),
        ]
        renewalLastPassGauge = registry.makeGauge(descriptor: Self.renewalLastPass)
        var vb365Counters: [VB365Outcome: Counter] = [:]
        for outcome in VB365Outcome.allCases {
            vb365Counters[outcome] = registry.makeCounter(descriptor: Self.vb365Calls, labels: [("outcome", outcome.rawValue)])
        }
        self.vb365Counters = vb365Counters
        vb365ErrorCounter = registry.makeCounter(descriptor: Self.vb365Errors)
        auditRecordCounter = registry.makeCounter(descriptor: Self.auditRecords)
        auditCommitCounter = registry.makeCounter(descriptor: Self.auditCommits)
        auditFailureCounter = registry.makeCounter(descriptor: Self.auditFailures)
        tenantGauge = registry.makeGauge(descriptor: Self.tenants)
        // The labelled request metrics are made per label set on first use, always with the same
        // label names (one shape per name).
    }

    /// The metrics of the running service (what `certvault serve` registers and emits).
    public static let shared = ServiceMetrics()

    // MARK: Recording

    /// Counts one answered request and records its duration.
    ///
    /// - Parameter route: the route's pattern (`/v1/tenants/{tenant}`), never the raw path, so
    ///   tenant ids and query strings do not become series.
    public func request(method: String, route: String, status: Int, seconds: Duration) {
        registry.makeCounter(descriptor: Self.requests, labels: [("method", method), ("route", route), ("status", String(status))])
            .increment()
        registry.makeDurationHistogram(descriptor: Self.duration, labels: [("method", method), ("route", route)],
                                       buckets: Self.durationBuckets).record(seconds)
    }

    /// Counts one call to VB365 (and an error when it did not succeed). For the onboarding worker
    /// and the routes that talk to VB365.
    public func vb365Call(outcome: VB365Outcome) {
        vb365Counters[outcome]?.increment()
        if outcome != .success { vb365ErrorCounter.increment() }
    }

    /// Sets the onboardings per state; states missing from `counts` are set to 0.
    public func onboardings(_ counts: [OnboardingRecord.State: Int]) {
        for state in OnboardingRecord.State.allCases {
            onboardingGauges[state.rawValue]?.set(to: Double(counts[state] ?? 0))
        }
    }

    /// Sets the onboardings per state from the records.
    public func onboardings(records: [OnboardingRecord]) {
        onboardings(records.reduce(into: [:]) { $0[$1.state, default: 0] += 1 })
    }

    /// Sets the tenants per renewal state and per kind of drift; missing ones are set to 0.
    public func renewals(states: [RenewalState.State: Int], drift: [RenewalState.Drift.Kind: Int]) {
        for state in RenewalState.State.allCases { renewalGauges[state]?.set(to: Double(states[state] ?? 0)) }
        for kind in RenewalState.Drift.Kind.allCases { driftGauges[kind]?.set(to: Double(drift[kind] ?? 0)) }
    }

    /// Sets the renewal gauges from the onboarding records (their ``OnboardingRecord/renewal``).
    public func renewals(records: [OnboardingRecord]) {
        var states: [RenewalState.State: Int] = [:]
        var drift: [RenewalState.Drift.Kind: Int] = [:]
        for record in records where record.state == .onboarded {
            guard let renewal = record.renewal else { continue }
            states[renewal.state, default: 0] += 1
            if let kind = renewal.drift?.kind { drift[kind, default: 0] += 1 }
        }
        renewals(states: states, drift: drift)
    }

    /// Counts one scheduler pass; a completed one also sets the last-pass time (Unix seconds).
    public func renewalPass(completed: Bool, at now: Int64) {
        renewalPassCounters[completed]?.increment()
        if completed { renewalLastPassGauge.set(to: Double(now)) }
    }

    /// Brings the audit counters up to a committer's statistics (they only ever grow).
    public func audit(_ statistics: AuditCommitter.Statistics) {
        state.withLock { state in
            let last = state.audit
            if statistics.records > last.records { auditRecordCounter.increment(by: Int64(statistics.records - last.records)) }
            if statistics.batches > last.batches { auditCommitCounter.increment(by: Int64(statistics.batches - last.batches)) }
            if statistics.failedRecords > last.failedRecords {
                auditFailureCounter.increment(by: Int64(statistics.failedRecords - last.failedRecords))
            }
            state.audit = AuditCommitter.Statistics(records: max(statistics.records, last.records),
                                                    batches: max(statistics.batches, last.batches),
                                                    failedRecords: max(statistics.failedRecords, last.failedRecords))
        }
    }

    /// Sets, per tenant, the expiry of its newest active certificate, from the vault's list
    /// (`Vault.list()`); tenants without an active generation, or gone, lose their series.
    public func certificates(_ entries: [EntrySummary]) {
        var newest: [String: (generation: Int, expiry: Int64)] = [:]
        var tenants = Set<String>()
        for entry in entries {
            tenants.insert(entry.tenant.rawValue)
            guard entry.metadata.status == .active, let expiry = UTCTime.parse(entry.metadata.notAfter) else { continue }
            if let known = newest[entry.tenant.rawValue], known.generation > entry.generation { continue }
            newest[entry.tenant.rawValue] = (entry.generation, expiry)
        }
        tenantGauge.set(to: Double(tenants.count))
        let expiry = newest.mapValues(\.expiry)
        state.withLock { $0.expiry = expiry }
    }

    /// The Prometheus text exposition of every metric.
    public func text() -> String {
        let expiry = state.withLock { $0.expiry }
        var text = registry.emitToString()
        let name = Self.expiry.name
        text += "# HELP \(name) \(Self.expiry.helpText ?? "")\n# TYPE \(name) gauge\n"
        for tenant in expiry.keys.sorted() {
            text += "\(name){tenant=\"\(Self.escapeLabel(tenant))\"} \(expiry[tenant]!)\n"
        }
        return text
    }

    /// A label value in the text format: backslash, double quote and line feed escaped.
    static func escapeLabel(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
