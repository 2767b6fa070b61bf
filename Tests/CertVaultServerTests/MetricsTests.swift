import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultOnboarding
import CertVaultServer
import CertVaultTesting
import CertVaultVault
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

/// The Prometheus text format, read strictly enough to catch a malformed exposition: every
/// sample line is `name{labels} value` with a value that parses, and belongs to a family whose
/// `# TYPE` came first.
struct PrometheusText {
    struct Sample: Equatable {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    var types: [String: String] = [:]
    var help: [String: String] = [:]
    var samples: [Sample] = []

    init(_ text: String) throws {
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                try #require(parts.count == 4, "bad TYPE line: \(line)")
                types[String(parts[2])] = String(parts[3])
            } else if line.hasPrefix("# HELP ") {
                let parts = line.split(separator: " ", maxSplits: 3)
                try #require(parts.count == 4, "bad HELP line: \(line)")
                help[String(parts[2])] = String(parts[3])
            } else {
                try #require(!line.hasPrefix("#"), "unknown comment: \(line)")
                let valueStart = try #require(line.lastIndex(of: " "), "no value: \(line)")
                let value = try #require(Double(line[line.index(after: valueStart)...]), "bad value: \(line)")
                let series = line[..<valueStart]
                var name = String(series)
                var labels: [String: String] = [:]
                if let brace = series.firstIndex(of: "{") {
                    name = String(series[..<brace])
                    try #require(series.hasSuffix("}"), "unclosed labels: \(line)")
                    let body = series[series.index(after: brace)..<series.index(before: series.endIndex)]
                    for pair in body.split(separator: ",") where !pair.isEmpty {
                        let kv = pair.split(separator: "=", maxSplits: 1)
                        try #require(kv.count == 2 && kv[1].hasPrefix("\"") && kv[1].hasSuffix("\""), "bad label: \(line)")
                        labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
                    }
                }
                let family = ["_bucket", "_sum", "_count"].first { name.hasSuffix($0) && types[name] == nil }
                    .map { String(name.dropLast($0.count)) } ?? name
                try #require(types[family] != nil, "sample before its TYPE: \(line)")
                samples.append(Sample(name: name, labels: labels, value: value))
            }
        }
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }
}

@Suite("Service metrics: GET /metrics in the Prometheus text format")
struct MetricsTests {
    static let documented: [String: String] = [
        "certvault_http_requests_total": "counter",
        "certvault_http_request_duration_seconds": "histogram",
        "certvault_onboardings": "gauge",
        "certvault_vb365_calls_total": "counter",
        "certvault_vb365_call_errors_total": "counter",
        "certvault_audit_records_total": "counter",
        "certvault_audit_commits_total": "counter",
        "certvault_audit_record_failures_total": "counter",
        "certvault_tenants": "gauge",
        "certvault_certificate_expiration_timestamp_seconds": "gauge",
    ]

    static func scrape(_ client: some TestClientProtocol) async throws -> PrometheusText {
        try await client.execute(uri: "/metrics", method: .get) { response in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
            return try PrometheusText(String(buffer: response.body))
        }
    }

    @Test("the text parses; every documented metric has its documented type and help; requests are counted per route pattern and status")
    func namesTypesAndRequests() async throws {
        let metrics = ServiceMetrics()
        metrics.certificates([])
        let app = Application(router: buildRouter(configuration: ServiceConfiguration(), logger: Logger(label: "test"), metrics: metrics))
        try await app.test(.router) { client in
            for _ in 0..<3 { try await client.execute(uri: "/healthz?probe=1", method: .get) { #expect($0.status == .ok) } }
            try await client.execute(uri: "/v1/no-such-route", method: .get) { #expect($0.status == .notFound) }
            let text = try await Self.scrape(client)
            for (name, type) in Self.documented where name != "certvault_certificate_expiration_timestamp_seconds" {
                #expect(text.types[name] == type, "\(name)")
                #expect(text.help[name]?.isEmpty == false, "\(name) has no help")
            }
            #expect(text.types.keys.allSatisfy { $0.hasPrefix("certvault_") })
            #expect(text.value("certvault_http_requests_total", ["method": "GET", "route": "/healthz", "status": "200"]) == 3)
            #expect(text.value("certvault_http_requests_total", ["method": "GET", "route": "unmatched", "status": "404"]) == 1)
            #expect(text.value("certvault_http_request_duration_seconds_count", ["method": "GET", "route": "/healthz"]) == 3)
            #expect(text.value("certvault_http_request_duration_seconds_bucket", ["method": "GET", "route": "/healthz", "le": "+Inf"]) == 3)
            // Every onboarding state has its series, at 0 before any onboarding.
            for state in OnboardingRecord.State.allCases {
                #expect(text.value("certvault_onboardings", ["state": state.rawValue]) == 0)
            }
            // The next scrape counts the previous one.
            let again = try await Self.scrape(client)
            #expect(again.value("certvault_http_requests_total", ["method": "GET", "route": "/metrics", "status": "200"]) == 1)
        }
    }

    @Test("counters move: VB365 calls and errors, audit records from the committer's statistics, onboardings per state")
    func countersMove() async throws {
        let metrics = ServiceMetrics()
        let app = Application(router: buildRouter(configuration: ServiceConfiguration(), logger: Logger(label: "test"), metrics: metrics))
        try await app.test(.router) { client in
            let before = try await Self.scrape(client)
            #expect(before.value("certvault_vb365_calls_total", ["outcome": "success"]) == 0)
            metrics.vb365Call(outcome: .success)
            metrics.vb365Call(outcome: .success)
            metrics.vb365Call(outcome: .httpError)
            metrics.vb365Call(outcome: .transportError)
            metrics.audit(AuditCommitter.Statistics(records: 10, batches: 2, failedRecords: 0))
            metrics.audit(AuditCommitter.Statistics(records: 25, batches: 3, failedRecords: 4))
            metrics.onboardings([.awaitingCustomer: 3, .onboarded: 7])
            let after = try await Self.scrape(client)
            #expect(after.value("certvault_vb365_calls_total", ["outcome": "success"]) == 2)
            #expect(after.value("certvault_vb365_calls_total", ["outcome": "http-error"]) == 1)
            #expect(after.value("certvault_vb365_calls_total", ["outcome": "transport-error"]) == 1)
            #expect(after.value("certvault_vb365_call_errors_total") == 2)
            #expect(after.value("certvault_audit_records_total") == 25)
            #expect(after.value("certvault_audit_commits_total") == 3)
            #expect(after.value("certvault_audit_record_failures_total") == 4)
            #expect(after.value("certvault_onboardings", ["state": "awaiting-customer"]) == 3)
            #expect(after.value("certvault_onboardings", ["state": "onboarded"]) == 7)
            #expect(after.value("certvault_onboardings", ["state": "failed"]) == 0)
        }
    }

    @Test("audit records written by real group-committed reads reach the counter")
    func auditRecordsFromReads() throws {
        let dir = try TemporaryDirectory()
        let vault = try Vault.create(at: dir.file("vault"), protection: .keyFile(path: dir.file("key/root.key")), actor: "tester")
        _ = try vault.store(tenant: try TenantID("contoso"), payload: Self.payload(notAfter: "2030-06-01T00:00:00Z"))
        let reader = try vault.credentialReader()
        for index in 0..<5 { _ = try reader.readOut(tenant: try TenantID("contoso"), purpose: "metrics \(index)", actor: "token t") }
        let metrics = ServiceMetrics()
        metrics.audit(reader.committer.statistics)
        let text = try PrometheusText(metrics.text())
        #expect(text.value("certvault_audit_records_total") == 5)
        #expect(try #require(text.value("certvault_audit_commits_total")) >= 1)
    }

    static func payload(notAfter: String, tag: String = "a") -> EntryPayload {
        EntryPayload(pfx: Array("PFX-\(tag)".utf8), password: Array("pw-\(tag)".utf8).withUnsafeBytes { SecretBytes(copying: $0) },
                     certificateDER: Array("DER".utf8),
                     facts: CertificateFacts(friendlyName: "VB365", thumbprintSHA1: "AB\(tag)", fingerprintSHA256: "CD", serialNumber: "01",
                                             notBefore: "2026-01-01T00:00:00Z", notAfter: notAfter, policy: "default", subject: "CN=x"))
    }

    @Test("per tenant, the expiry of its newest active certificate is a timestamp gauge refreshed from the vault list; a tenant with none loses its series")
    func certificateExpiry() async throws {
        let dir = try TemporaryDirectory()
        let vault = try Vault.create(at: dir.file("vault"), protection: .keyFile(path: dir.file("key/root.key")), actor: "tester")
        _ = try vault.store(tenant: try TenantID("contoso"), payload: Self.payload(notAfter: "2030-06-01T00:00:00Z"))
        _ = try vault.store(tenant: try TenantID("contoso"), payload: Self.payload(notAfter: "2031-06-01T00:00:00Z", tag: "b"))
        _ = try vault.store(tenant: try TenantID("fabrikam"), payload: Self.payload(notAfter: "2029-01-15T12:00:00Z"))
        let metrics = ServiceMetrics()
        metrics.certificates(try vault.list())
        var text = try PrometheusText(metrics.text())
        #expect(text.types["certvault_certificate_expiration_timestamp_seconds"] == "gauge")
        #expect(text.value("certvault_certificate_expiration_timestamp_seconds", ["tenant": "contoso"]) == 1_938_038_400)
        #expect(text.value("certvault_certificate_expiration_timestamp_seconds", ["tenant": "fabrikam"]) == 1_863_172_800)
        #expect(text.value("certvault_tenants") == 2)

        try vault.updateMetadata(tenant: try TenantID("fabrikam"), generation: 1, action: "entry.retire") { $0.status = .retired }
        try vault.updateMetadata(tenant: try TenantID("contoso"), generation: 2, action: "entry.retire") { $0.status = .retired }
        metrics.certificates(try vault.list())
        text = try PrometheusText(metrics.text())
        #expect(text.value("certvault_certificate_expiration_timestamp_seconds", ["tenant": "fabrikam"]) == nil)
        #expect(text.value("certvault_certificate_expiration_timestamp_seconds", ["tenant": "contoso"]) == 1_906_502_400)
    }

    @Test("the refresh before a scrape runs at most once per interval")
    func refreshIsRateLimited() async throws {
        let metrics = ServiceMetrics()
        let runs = Mutex(0)
        let router = Router(context: CertVaultRequestContext.self)
        MetricsController(metrics: metrics, refreshInterval: .seconds(3600)) {
            runs.withLock { $0 += 1 }
            metrics.onboardings([.failed: 1])
        }.addRoutes(to: router)
        try await Application(router: router).test(.router) { client in
            let text = try await Self.scrape(client)
            #expect(text.value("certvault_onboardings", ["state": "failed"]) == 1)
            _ = try await Self.scrape(client)
        }
        #expect(runs.withLock { $0 } == 1)
    }

    @Test("neither a bearer token nor a query string reaches the metrics: routes are labelled by pattern")
    func noTokensOrPaths() async throws {
        let metrics = ServiceMetrics()
        let app = Application(router: buildRouter(configuration: ServiceConfiguration(), logger: Logger(label: "test"), metrics: metrics))
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz?access_token=cvt_SECRETQUERY", method: .get,
                                     headers: [.authorization: "Bearer cvt_SECRETHEADER"]) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/tenants/contoso-secret-path/credential", method: .get) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let body = String(buffer: response.body)
                #expect(!body.contains("SECRET"))
                #expect(!body.contains("cvt_"))
                #expect(!body.contains("contoso-secret-path"))
            }
        }
    }

    @Test("with the whole API: /metrics needs no token, counts credential reads per route pattern, their group-committed audit records and each tenant's expiry")
    func wholeAPI() async throws {
        let world = try APIWorld()
        try world.issue("contoso")
        try world.issue("fabrikam")
        let token = try world.tokens.add(scopes: [.credentialsRead])
        let metrics = ServiceMetrics()
        let router = buildRouter(services: world.services, logger: APIWorld.logger,
                                 extraRoutes: [metrics.apiRoute(services: world.services, refreshInterval: .zero)],
                                 configure: metrics.configure)
        let reads = 12
        try await Application(router: router, logger: APIWorld.logger).test(.router) { client in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<reads {
                    group.addTask {
                        try await client.call(.get, "/v1/tenants/\(index % 2 == 0 ? "contoso" : "fabrikam")/credential?purpose=m\(index)",
                                              token: token).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: .ok, count: reads))
            let text = try await Self.scrape(client)
            #expect(text.value("certvault_http_requests_total",
                               ["method": "GET", "route": "/v1/tenants/{tenant}/credential", "status": "200"]) == Double(reads))
            #expect(text.value("certvault_audit_records_total") == Double(reads))
            #expect(try #require(text.value("certvault_audit_commits_total")) <= Double(reads))
            #expect(text.value("certvault_tenants") == 2)
            #expect(text.value("certvault_certificate_expiration_timestamp_seconds", ["tenant": "contoso"]) != nil)
            #expect(text.value("certvault_onboardings", ["state": "onboarded"]) == 0)
        }
        let (records, problems) = try world.vault().auditRecords()
        #expect(problems == [])
        let audited = records.filter { $0.action == "entry.read" }
        #expect(audited.count == reads)
        #expect(audited.allSatisfy { $0.detail.hasPrefix("api token ") })
    }
}
