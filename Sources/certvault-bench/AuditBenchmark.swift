import ArgumentParser
import CertVaultCore
import CertVaultVault
import Foundation

/// Audited credential reads per second from many threads: the group commit (``CredentialReader``,
/// one fsync for every read waiting at that moment) against one fsync per read done directly
/// (``Vault/readOut(tenant:generation:purpose:)`` on a handle per thread, as today's CLI does), in
/// the same run on the same vault. Every read returns only once its own record is durable in
/// both modes.
struct AuditBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Audited credential reads/s: group commit vs one fsync per read, 1 to 64 threads, same vault.")

    @Option(help: "Thread counts, comma separated.")
    var threads: String = "1,16,32,64"

    @Option(help: "Seconds per mode and thread count.")
    var seconds: Double = 3

    @Option(help: "Tenants in the vault (synthetic entries).")
    var tenants: Int = 1000

    @Option(help: "Where to make the vault (default: a new folder under the temporary folder).")
    var work: String?

    struct Result {
        var reads = 0
        var latencies: [Double] = []
        var seconds = 0.0
        var perSecond: Double { Double(reads) / seconds }
        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            let sorted = latencies.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }
    }

    func run() throws {
        let base = work ?? NSTemporaryDirectory() + "/certvault-audit-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { if work == nil { try? FileManager.default.removeItem(atPath: base) } }
        let protection = RootKeyProtection.keyFile(path: "\(base)/key/root.key")
        let vault = try Vault.create(at: "\(base)/vault", protection: protection, actor: "bench")
        _ = try vault.fillSynthetic(tenants: tenants, prefix: "t", auditRecordsPerEntry: false)
        PrivateFiles.durableWrites = true
        let reader = try vault.credentialReader(actor: "bench")
        print("certvault audit benchmark: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(tenants) tenants, "
              + "\(seconds) s per mode, file system \(fileSystemType(base))")
        print("every read returns only after its own entry.read record is fsynced; latencies in ms")
        print("")
        print("threads  mode                      reads/s     p50      p99   fsyncs/read")
        for count in threads.split(separator: ",").compactMap({ Int($0) }) {
            let direct = try measure(threads: count) { index in
                // A handle per thread (a Vault is not thread-safe), as separate CLI processes would have.
                let handle = Unchecked(try Vault.open(at: "\(base)/vault", unlock: protection, actor: "bench"))
                return { tenant in _ = try handle.value.readOut(tenant: tenant, generation: 1, purpose: "bench direct \(index)") }
            }
            let before = reader.committer.statistics
            let grouped = try measure(threads: count) { index in
                { tenant in _ = try reader.readOut(tenant: tenant, generation: 1, purpose: "bench grouped \(index)", actor: "bench \(index)") }
            }
            let after = reader.committer.statistics
            let batches = after.batches - before.batches
            print(String(format: "%7d  one fsync per read (direct) %9.0f %8.2f %8.2f   1", count, direct.perSecond,
                         direct.percentile(0.5), direct.percentile(0.99)))
            print(String(format: "%7d  group commit               %9.0f %8.2f %8.2f   1/%.1f   ratio %.2fx", count, grouped.perSecond,
                         grouped.percentile(0.5), grouped.percentile(0.99), Double(grouped.reads) / Double(max(1, batches)),
                         grouped.perSecond / direct.perSecond))
        }
        let (records, problems) = vault.auditRecords()
        print("")
        print("audit log after the run: \(records.count) records, verify: \(problems.isEmpty ? "intact" : problems.prefix(3).joined(separator: "; "))")
        if !problems.isEmpty { throw ValidationError("the audit log does not verify") }
    }

    /// Runs `threads` threads reading random tenants for ``seconds``; `make` gives each thread its reader.
    func measure(threads: Int, _ make: (Int) throws -> @Sendable (TenantID) throws -> Void) throws -> Result {
        let ids = try (0..<tenants).map { try TenantID("t\($0)") }
        let readers = try (0..<threads).map(make)
        let results = Locked([Result](repeating: Result(), count: threads))
        let failures = Locked([String]())
        let group = DispatchGroup()
        let start = Date()
        let deadline = start.addingTimeInterval(seconds)
        for index in 0..<threads {
            group.enter()
            let read = readers[index]
            let thread = Thread {
                var result = Result()
                var random = SystemRandomNumberGenerator()
                while Date() < deadline {
                    let began = DispatchTime.now().uptimeNanoseconds
                    do {
                        try read(ids[Int.random(in: 0..<ids.count, using: &random)])
                    } catch {
                        failures.with { $0.append("\(error)") }
                        break
                    }
                    result.latencies.append(Double(DispatchTime.now().uptimeNanoseconds - began) / 1e6)
                    result.reads += 1
                }
                results.with { $0[index] = result }
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        let elapsed = Date().timeIntervalSince(start)
        if let failure = failures.with({ $0.first }) { throw ValidationError("a read failed: \(failure)") }
        var total = Result()
        total.seconds = elapsed
        for result in results.with({ $0 }) {
            total.reads += result.reads
            total.latencies += result.latencies
        }
        return total
    }

    func fileSystemType(_ path: String) -> String {
        let output = try? Subprocess.run("/usr/bin/stat", ["-f", "-c", "%T", path])
        return output.map { String(decoding: $0.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "unknown"
    }
}

/// A value handed to one other thread, which alone uses it.
final class Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A value threads share, behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func with<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
