import ArgumentParser
import CertVaultCore
import CertVaultPostgres
import CertVaultVault
import Foundation

/// The vault on PostgreSQL against the vault in files, in the same run on the same machine:
/// store throughput (entries stored, as issuance stores them), audited credential reads per
/// second and their p99 (the file vault; one PostgreSQL handle; two PostgreSQL databases as two
/// replicas would hold them), and metadata reads (`list`).
///
/// Every write is durable in both backends: the file vault fsyncs (``PrivateFiles/durableWrites``),
/// PostgreSQL commits with its defaults (`synchronous_commit = on`). The database must be empty
/// (no certvault tables, or tables without a vault): the benchmark creates its vault there.
struct StorageBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "The vault on PostgreSQL against files: store throughput, audited reads/s and p99 (1 and 2 replicas), list.",
        discussion: """
            Needs an empty PostgreSQL database: --url postgres://USER@HOST:PORT/DB?sslmode=disable and \
            --password-file (or CERTVAULT_TEST_POSTGRES_URL and CERTVAULT_TEST_POSTGRES_PASSWORD_FILE, as \
            Tests/Scripts/postgres-server.sh prints them; the database named there must hold no vault).
            """)

    @Option(help: "The database (no password in it); default $CERTVAULT_TEST_POSTGRES_URL.")
    var url: String?

    @Option(help: ArgumentHelp("The database password's file; default $CERTVAULT_TEST_POSTGRES_PASSWORD_FILE.", valueName: "path"))
    var passwordFile: String?

    @Option(help: "Entries stored per backend (one tenant each); the reads and the list use them.")
    var count: Int = 500

    @Option(help: "Reader thread counts, comma separated.")
    var threads: String = "1,16"

    @Option(help: "Seconds per backend and thread count.")
    var seconds: Double = 3

    @Option(help: "Where to make the file vault (default: a new folder under the temporary folder).")
    var work: String?

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let url = url ?? environment["CERTVAULT_TEST_POSTGRES_URL"] else {
            throw ValidationError("Give the database with --url (an empty database; see --help).")
        }
        let passwordFile = passwordFile ?? environment["CERTVAULT_TEST_POSTGRES_PASSWORD_FILE"]
        let base = work ?? NSTemporaryDirectory() + "/certvault-storage-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { if work == nil { try? FileManager.default.removeItem(atPath: base) } }
        PrivateFiles.durableWrites = true

        let settings = try PostgresSettings(url: url, password: passwordFile.map { .file($0) }, poolSize: 20, timeoutSeconds: 60,
                                            replicaID: "bench-a")
        let first = try PostgresDatabase(settings: settings)
        var secondSettings = settings
        secondSettings.replicaID = "bench-b"
        let second = try PostgresDatabase(settings: secondSettings)
        defer {
            first.shutdown()
            second.shutdown()
        }
        try first.migrate()
        let postgresStorage = PostgresVaultStorage(database: first)
        if try Vault.exists(storage: postgresStorage) {
            throw ValidationError("The database at \(settings.displayURL) already holds a vault; give an empty database.")
        }
        let protection = RootKeyProtection.keyFile(path: "\(base)/key/postgres.key")
        let fileVault = try Vault.create(storage: FileVaultStorage(path: "\(base)/vault"), protection: .keyFile(path: "\(base)/key/files.key"),
                                         actor: "bench")
        let postgresVault = try Vault.create(storage: postgresStorage, protection: protection, actor: "bench")

        print("certvault storage benchmark: \(ProcessInfo.processInfo.activeProcessorCount) cores, load average \(loadAverage()), "
              + "PostgreSQL at \(settings.displayURL)")
        print("file vault on \(fileSystemType(base)); every write durable (fsync / synchronous commit)")
        print("")

        // Store throughput.
        print("store (one entry per tenant, \(count) tenants; the payload is ready, as issuance hands it over)")
        let fileStore = try timeStores(fileVault)
        let postgresStore = try timeStores(postgresVault)
        print(String(format: "  files       %8.1f entries/s", fileStore))
        print(String(format: "  PostgreSQL  %8.1f entries/s   ratio %.2fx of files", postgresStore, postgresStore / fileStore))
        print("")

        // Audited reads: every read returns once its entry.read record is durable (group commit in both).
        print("audited credential reads (random tenant; returns after its audit record is durable); latencies in ms")
        print("threads  backend                          reads/s      p50      p99   ratio to files")
        let fileReader = try fileVault.credentialReader(actor: "bench")
        let postgresReader = try postgresVault.credentialReader(actor: "bench")
        // The second replica: its own pool and its own vault handle on the same database.
        let replicaVault = try Vault.open(storage: PostgresVaultStorage(database: second), unlock: protection, actor: "bench-b")
        let replicaReader = try replicaVault.credentialReader(actor: "bench-b")
        for count in threads.split(separator: ",").compactMap({ Int($0) }) {
            let files = try measure(threads: count) { _ in { tenant in
                _ = try fileReader.readOut(tenant: tenant, generation: 1, purpose: "bench files")
            } }
            let one = try measure(threads: count) { _ in { tenant in
                _ = try postgresReader.readOut(tenant: tenant, generation: 1, purpose: "bench postgres")
            } }
            let two = try measure(threads: count) { index in
                let reader = index % 2 == 0 ? postgresReader : replicaReader
                return { tenant in _ = try reader.readOut(tenant: tenant, generation: 1, purpose: "bench replica \(index % 2)") }
            }
            for (name, result) in [("files", files), ("PostgreSQL, one replica", one), ("PostgreSQL, two replicas", two)] {
                let label = name.padding(toLength: 30, withPad: " ", startingAt: 0)
                print(String(format: "%7d  ", count) + label + String(format: " %9.0f %8.2f %8.2f   %.2fx", result.perSecond,
                             result.percentile(0.5), result.percentile(0.99), result.perSecond / files.perSecond))
            }
        }
        print("")

        // Metadata reads.
        print("metadata reads: list of every entry (\(count)), best of 5 (ms)")
        let fileList = try bestOf(5) { _ = try fileVault.list() }
        let postgresList = try bestOf(5) { _ = try postgresVault.list() }
        let replicaList = try bestOf(5) { _ = try replicaVault.list() }
        print(String(format: "  files                       %8.1f", fileList * 1000))
        print(String(format: "  PostgreSQL                  %8.1f   ratio %.2fx of files", postgresList * 1000, postgresList / fileList))
        print(String(format: "  PostgreSQL, second replica  %8.1f", replicaList * 1000))
        print("")

        let fileReport = try fileVault.verify()
        let postgresReport = try postgresVault.verify()
        print("after the run: files verify \(fileReport.intact ? "intact" : "FAILED") (\(fileReport.auditRecords) audit records), "
              + "PostgreSQL verify \(postgresReport.intact ? "intact" : "FAILED") (\(postgresReport.auditRecords) audit records)")
        if !fileReport.intact || !postgresReport.intact { throw ValidationError("a vault does not verify after the run") }
    }

    /// Stores `count` entries, one per tenant `t0...`, and returns entries per second.
    func timeStores(_ vault: Vault) throws -> Double {
        let start = Date()
        for index in 0..<count {
            _ = try vault.store(tenant: try TenantID("t\(index)"), payload: payload(index))
        }
        return Double(count) / Date().timeIntervalSince(start)
    }

    func payload(_ index: Int) -> EntryPayload {
        EntryPayload(pfx: (0..<2600).map { UInt8(($0 + index) % 251) }, password: SecretBytes.random(count: 32),
                     certificateDER: (0..<870).map { UInt8($0 % 253) },
                     facts: CertificateFacts(friendlyName: "Tenant \(index) VB365 Tenant", thumbprintSHA1: String(repeating: "A", count: 40),
                                             fingerprintSHA256: String(repeating: "B", count: 64), serialNumber: "0123456789ABCDEF",
                                             notBefore: "2026-11-26T00:00:00Z", notAfter: "2028-11-26T00:00:00Z", policy: "default",
                                             subject: "O=Tenant \(index), CN=Tenant \(index) VB365 Tenant"))
    }

    func bestOf(_ runs: Int, _ body: () throws -> Void) throws -> Double {
        var best = Double.infinity
        for _ in 0..<runs {
            let start = Date()
            try body()
            best = min(best, Date().timeIntervalSince(start))
        }
        return best
    }

    struct Result {
        var reads = 0
        var latencies: [Double] = []
        var seconds = 0.0
        var perSecond: Double { Double(reads) / max(seconds, 1e-9) }
        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            let sorted = latencies.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }
    }

    /// Runs `threads` threads reading random tenants for ``seconds``; `make` gives each thread its reader.
    func measure(threads: Int, _ make: (Int) throws -> @Sendable (TenantID) throws -> Void) throws -> Result {
        let ids = try (0..<count).map { try TenantID("t\($0)") }
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
                while Date() < deadline {
                    let began = DispatchTime.now().uptimeNanoseconds
                    do {
                        try read(ids[Int.random(in: 0..<ids.count)])
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
        if let failure = failures.with({ $0.first }) { throw ValidationError("a read failed: \(failure)") }
        var total = Result()
        total.seconds = Date().timeIntervalSince(start)
        for result in results.with({ $0 }) {
            total.reads += result.reads
            total.latencies += result.latencies
        }
        return total
    }

    func loadAverage() -> String {
        var loads = [Double](repeating: 0, count: 3)
        return getloadavg(&loads, 3) == 3 ? String(format: "%.1f %.1f %.1f", loads[0], loads[1], loads[2]) : "unknown"
    }

    func fileSystemType(_ path: String) -> String {
        let output = try? Subprocess.run("/usr/bin/stat", ["-f", "-c", "%T", path])
        return output.map { String(decoding: $0.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "unknown"
    }
}
