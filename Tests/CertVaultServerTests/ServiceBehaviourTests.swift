import CertVaultAccess
import CertVaultCore
import CertVaultServer
import CertVaultVault
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// Keeps every log message and its metadata, to look for what must never be logged.
final class CapturedLogs: @unchecked Sendable {
    // Safety: `lines` is read and written under `lock` only.
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }

    struct Handler: LogHandler {
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(
            level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String,
            file: String, function: String, line: UInt
        ) {
            let all = self.metadata.merging(extra ?? [:]) { $1 }
            sink.append("\(level) \(message) \(all.map { "\($0)=\($1)" }.sorted().joined(separator: " "))")
        }
    }
}

@Suite("How the service behaves under concurrency and what it logs", .serialized)
struct ServiceBehaviourTests {
    @Test("concurrent credential reads on several vault handles: every read answered and audited, the log verifies")
    func concurrentAuditedReads() async throws {
        let world = try APIWorld()
        try world.issue("contoso")
        let token = try world.tokens.add(scopes: [.credentialsRead])
        let before = try world.vault().auditRecords().records.count
        let statuses = try await world.app().test(.router) { client in
            try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<24 {
                    group.addTask {
                        try await client.call(.get, "/v1/tenants/contoso/credential?purpose=read%20\(index)", token: token).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
        }
        #expect(statuses.count == 24)
        #expect(statuses.allSatisfy { $0 == .ok })
        let (records, problems) = try world.vault().auditRecords()
        #expect(problems.isEmpty)
        let reads = records.dropFirst(before).filter { $0.action == "entry.read" }
        #expect(reads.count == 24)
        #expect(Set(reads.map(\.detail)).count == 24, "one record per read, each with its purpose")
    }

    @Test("concurrent issuance for one tenant through several handles: consecutive generations, none lost or doubled")
    func concurrentIssuance() async throws {
        let world = try APIWorld()
        let token = try world.tokens.add(scopes: [.certificatesIssue])
        let generations = try await world.app().test(.router) { client in
            try await withThrowingTaskGroup(of: Int?.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await client.call(.post, "/v1/tenants/contoso/certificates", token: token, json: #"{"policy":"fast"}"#)
                            .object["generation"] as? Int
                    }
                }
                return try await group.reduce(into: [Int?]()) { $0.append($1) }
            }
        }
        #expect(generations.compactMap { $0 }.sorted() == [1, 2, 3, 4])
        #expect(try world.vault().generations(of: try TenantID("contoso")) == [1, 2, 3, 4])
    }

    @Test("the token never appears in the service's log, even at trace level, for valid and invalid tokens")
    func tokenNeverLogged() async throws {
        let world = try APIWorld()
        try world.issue("contoso")
        let valid = try world.tokens.add(scopes: [.credentialsRead, .tenantsRead])
        let revoked = try world.tokens.add(scopes: [.tenantsRead], revoked: true)
        let logs = CapturedLogs()
        let logger = Logger(label: "capture") { _ in CapturedLogs.Handler(sink: logs) }
        try await world.app(logger: logger).test(.router) { client in
            _ = try await client.call(.get, "/v1/tenants", token: valid)
            _ = try await client.call(.get, "/v1/tenants/contoso/credential?purpose=log%20check", token: valid)
            _ = try await client.call(.get, "/v1/tenants", token: revoked)
            _ = try await client.call(.get, "/v1/tenants", token: "cvt_made_up_token_value")
            _ = try await client.call(.get, "/v1/nothing", token: valid)
        }
        #expect(!logs.all.isEmpty, "the capture saw the service's log")
        #expect(logs.all.contains { $0.lowercased().contains("authorization") }, "the header is logged, its value redacted")
        for secret in [valid, revoked, "cvt_made_up_token_value"] {
            #expect(!logs.all.contains { $0.contains(secret) }, "the token is not in the log")
        }
    }
}
