import CertVaultCore
import CertVaultTesting
import CertVaultVault
import Foundation
import Testing

/// A value several threads share in a test, behind a lock.
private final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func with<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Runs `count` threads at once and waits for all of them.
private func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        Thread {
            body(index)
            group.leave()
        }.start()
    }
    group.wait()
}

/// Waits (up to 20 s) until `condition` holds; for a test hook that holds a batch back until
/// others have queued behind it.
private func waitUntil(_ condition: () -> Bool) {
    let deadline = Date(timeIntervalSinceNow: 20)
    while !condition() && Date() < deadline { usleep(1000) }
}

@Suite("Audit group commit: concurrent credential reads, each durable before it returns")
struct AuditGroupCommitTests {
    static let tenants = ["contoso", "fabrikam", "northwind", "tailspin"]

    /// A vault with one generation for each of ``tenants``.
    static func vault(_ dir: TemporaryDirectory) throws -> Vault {
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        for tenant in tenants { _ = try vault.store(tenant: try TenantID(tenant), payload: VaultFixtures.payload(tenant)) }
        return vault
    }

    @Test("16 threads read at once: every read returns its secret only once its record is in the log; records in order, chain verifies, fewer fsyncs than reads")
    func concurrentReads() throws {
        let dir = try TemporaryDirectory()
        let vault = try Self.vault(dir)
        let reader = try vault.credentialReader()
        let threads = 16, readsPerThread = 8
        // Hold the first batch back until every other thread has queued, so grouping is certain.
        let firstBatch = Locked(true)
        reader.committer.beforeWrite = { [committer = reader.committer] size in
            if firstBatch.with({ let first = $0; $0 = false; return first }) { waitUntil { committer.queued + size >= threads } }
        }
        let durable = Locked(Set<Int>())
        reader.committer.onDurable = { range in durable.with { $0.formUnion(range) } }
        let logPath = "\(reader.path)/audit.log"
        let failures = Locked([String]())
        onThreads(threads) { index in
            for read in 0..<readsPerThread {
                let tenant = Self.tenants[(index + read) % Self.tenants.count]
                let purpose = "restore t\(index) r\(read)"
                do {
                    let (generation, payload, _) = try reader.readOut(tenant: try TenantID(tenant), purpose: purpose, actor: "token acc\(index)")
                    // At the moment the secret is back, its record is already in the log file.
                    let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                    if !log.contains("\ttoken acc\(index)\tentry.read\t\(tenant)\t\(generation)\t\(purpose)\t") {
                        failures.with { $0.append("\(purpose): returned before its record was in the log") }
                    }
                    if VaultFixtures.text(payload.password) != "pfx-password-\(tenant)" { failures.with { $0.append("\(purpose): wrong secret") } }
                } catch {
                    failures.with { $0.append("\(purpose): \(error)") }
                }
            }
        }
        #expect(failures.with { $0 } == [])
        let (records, problems) = vault.auditRecords()
        #expect(problems == [])
        let reads = records.filter { $0.action == "entry.read" }
        #expect(reads.count == threads * readsPerThread)
        #expect(records.map(\.sequence) == Array(1...records.count))
        #expect(Set(reads.map(\.detail)).count == threads * readsPerThread)
        #expect(Set(reads.map(\.sequence)).isSubset(of: durable.with { $0 }))
        for record in reads {
            let index = try #require(Int(record.actor.dropFirst("token acc".count)))
            let read = try #require(Int(record.detail.split(separator: "r").last ?? ""))
            #expect(record.tenant == Self.tenants[(index + read) % Self.tenants.count])
            #expect(record.generation == 1)
        }
        let statistics = reader.committer.statistics
        #expect(statistics.records == threads * readsPerThread)
        #expect(statistics.batches < statistics.records / 2, "one fsync must cover many reads: \(statistics)")
        #expect(statistics.failedRecords == 0)
    }

    @Test("the async read-out suspends instead of blocking: 32 tasks at once, each record durable, same chain")
    func asyncReads() async throws {
        let dir = try TemporaryDirectory()
        let vault = try Self.vault(dir)
        let reader = try vault.credentialReader()
        let durable = Locked(Set<Int>())
        reader.committer.onDurable = { range in durable.with { $0.formUnion(range) } }
        let passwords = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<32 {
                group.addTask {
                    let tenant = Self.tenants[index % Self.tenants.count]
                    let (_, payload, _) = try await reader.readOut(tenant: try TenantID(tenant), purpose: "async \(index)", actor: "token async")
                    return VaultFixtures.text(payload.password)
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(passwords.count == 32)
        #expect(Set(passwords) == Set(Self.tenants.map { "pfx-password-\($0)" }))
        let (records, problems) = vault.auditRecords()
        #expect(problems == [])
        let reads = records.filter { $0.action == "entry.read" }
        #expect(reads.count == 32)
        #expect(reads.allSatisfy { $0.actor == "token async" })
        #expect(Set(reads.map(\.sequence)) == durable.with { $0 })
    }

    @Test("a batch that cannot be written fails every read in it with a clear error and releases no secret; the chain stays intact")
    func injectedFailureFailsTheWholeBatch() throws {
        let dir = try TemporaryDirectory()
        let vault = try Self.vault(dir)
        let reader = try vault.credentialReader()
        let threads = 8
        let failing = Locked(true)
        let firstBatch = Locked(true)
        reader.committer.beforeWrite = { [committer = reader.committer] size in
            if firstBatch.with({ let first = $0; $0 = false; return first }) { waitUntil { committer.queued + size >= threads } }
            if failing.with({ $0 }) { throw CertVaultError(.fileSystem, "Injected write error.", underlying: "EIO") }
        }
        let released = Locked(0)
        let errors = Locked([CertVaultError]())
        onThreads(threads) { index in
            do {
                _ = try reader.readOut(tenant: try TenantID("contoso"), purpose: "doomed \(index)")
                released.with { $0 += 1 }
            } catch let error as CertVaultError {
                errors.with { $0.append(error) }
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        #expect(released.with { $0 } == 0)
        let all = errors.with { $0 }
        #expect(all.count == threads)
        #expect(all.allSatisfy { $0.code == .fileSystem && $0.reason.contains("could not be made durable") && $0.reason.contains("nothing was released") })
        #expect(all.allSatisfy { $0.hint?.contains("certvault audit verify") == true && $0.underlying?.contains("EIO") == true })
        // The batch queued behind the first one failed as a whole.
        #expect(all.contains { $0.reason.contains("others committed with it") })
        #expect(reader.committer.statistics.failedRecords == threads)
        #expect(vault.auditRecords().records.filter { $0.action == "entry.read" }.isEmpty)

        failing.with { $0 = false }
        let (_, payload, _) = try reader.readOut(tenant: try TenantID("contoso"), purpose: "after the failure")
        #expect(VaultFixtures.text(payload.password) == "pfx-password-contoso")
        let (records, problems) = vault.auditRecords()
        #expect(problems == [])
        #expect(records.filter { $0.action == "entry.read" }.map(\.detail) == ["after the failure"])
    }

    @Test("a real I/O failure (the audit log replaced by a folder) fails every waiting read; none gets a secret")
    func realIOFailure() throws {
        let dir = try TemporaryDirectory()
        let vault = try Self.vault(dir)
        let reader = try vault.credentialReader()
        let log = "\(reader.path)/audit.log"
        #expect(rename(log, "\(log).saved") == 0)
        #expect(mkdir(log, 0o700) == 0)
        let released = Locked(0)
        let errors = Locked([CertVaultError]())
        onThreads(6) { index in
            do {
                _ = try reader.readOut(tenant: try TenantID(Self.tenants[index % 4]), purpose: "io \(index)")
                released.with { $0 += 1 }
            } catch let error as CertVaultError {
                errors.with { $0.append(error) }
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        #expect(released.with { $0 } == 0)
        #expect(errors.with { $0.count } == 6)
        #expect(errors.with { $0.allSatisfy { $0.code == .fileSystem && $0.reason.contains("nothing was released") } })
        #expect(errors.with { $0.allSatisfy { $0.underlying?.contains("Cannot open the audit log") == true } })
        #expect(rmdir(log) == 0)
        #expect(rename("\(log).saved", log) == 0)
        _ = try reader.readOut(tenant: try TenantID("contoso"), purpose: "repaired")
        #expect(vault.auditRecords().problems == [])
    }

    @Test("a read that cannot open its entry fails alone; the others in its batch succeed")
    func openFailureFailsOnlyItsRead() throws {
        let dir = try TemporaryDirectory()
        let vault = try Self.vault(dir)
        let reader = try vault.credentialReader()
        let outcomes = Locked([Int: String]())
        onThreads(8) { index in
            let tenant = index == 3 ? "nobody" : Self.tenants[index % 4]
            do {
                let (_, payload, _) = try reader.readOut(tenant: try TenantID(tenant), purpose: "mixed \(index)")
                outcomes.with { $0[index] = VaultFixtures.text(payload.password) }
            } catch let error as CertVaultError {
                outcomes.with { $0[index] = error.code.name }
            } catch {
                outcomes.with { $0[index] = "\(error)" }
            }
        }
        let results = outcomes.with { $0 }
        #expect(results[3] == CertVaultError.Code.notFound.name)
        for index in 0..<8 where index != 3 { #expect(results[index] == "pfx-password-\(Self.tenants[index % 4])") }
        let reads = vault.auditRecords().records.filter { $0.action == "entry.read" }
        #expect(reads.count == 7)
        #expect(!reads.contains { $0.tenant == "nobody" })
    }

    @Test("the CLI's writes and the group commit share the log under the vault lock: interleaved, one unbroken chain")
    func interleavesWithOtherWriters() throws {
        let dir = try TemporaryDirectory()
        let vault = try Self.vault(dir)
        let reader = try vault.credentialReader()
        // Another handle, as another process (the CLI) would have, storing while reads go on.
        let other = try Vault.open(at: reader.path, unlock: .keyFile(path: dir.file("key/root.key")), actor: "cli")
        let otherBox = Locked(other)
        onThreads(9) { index in
            if index == 8 {
                otherBox.with { vault in
                    for round in 0..<5 { _ = try? vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload("x\(round)")) }
                }
            } else {
                for read in 0..<5 { _ = try? reader.readOut(tenant: try TenantID("fabrikam"), purpose: "p\(index)-\(read)") }
            }
        }
        let (records, problems) = vault.auditRecords()
        #expect(problems == [])
        #expect(records.filter { $0.action == "entry.read" }.count == 40)
        #expect(records.filter { $0.action == "entry.create" && $0.actor == "cli" }.count == 5)
    }

    @Test("the restore credential reads through either source: the vault (one fsync per read) or the reader bound to a caller")
    func credentialSource() throws {
        let dir = try TemporaryDirectory()
        let vault = try Self.vault(dir)
        let reader = try vault.credentialReader()
        func read(_ source: some CredentialSource) throws -> String {
            let generations = try source.generations(of: try TenantID("tailspin"))
            let summary = try source.summary(tenant: try TenantID("tailspin"), generation: try #require(generations.last))
            let (_, payload, _) = try source.readOut(tenant: try TenantID("tailspin"), generation: summary.generation, purpose: "source")
            return VaultFixtures.text(payload.password)
        }
        #expect(try read(vault) == "pfx-password-tailspin")
        #expect(try read(reader.acting(as: "token abc")) == "pfx-password-tailspin")
        let reads = vault.auditRecords().records.filter { $0.action == "entry.read" }
        #expect(reads.map(\.actor) == ["tester", "token abc"])
    }
}
