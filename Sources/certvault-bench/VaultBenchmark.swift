import ArgumentParser
import CSodium
import CertVaultCore
import CertVaultVault
import Foundation

/// Measures the vault against the floor of the same file I/O and the same libsodium calls done
/// directly, in the same run; plus list times over many entries and unlock times per Argon2id
/// setting.
struct VaultBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault",
        abstract: "Vault store/read against raw I/O + libsodium, list over 10,000 and 100,000 entries, unlock times.")

    @Option(help: "Entries for the store/read comparison with fsync (without fsync: 4x as many).")
    var count: Int = 300

    @Option(help: "Entry counts for the list benchmark, comma separated.")
    var listSizes: String = "10000,100000"

    @Option(help: "Which parts to run, comma separated: store, list, unlock.")
    var parts: String = "store,list,unlock"

    @Option(help: "Where to make the benchmark vaults (default: a new folder under the temporary folder).")
    var work: String?

    func run() async throws {
        let base = work ?? NSTemporaryDirectory() + "/certvault-vault-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // With --work the list vaults are kept and reused by the next run (to profile list alone).
        defer { if work == nil { try? FileManager.default.removeItem(atPath: base) } }
        print("certvault vault benchmark: \(ProcessInfo.processInfo.activeProcessorCount) cores, libsodium \(SodiumRuntime.version)")
        print("file system of \(base): \(fileSystemType(base))")
        print("")
        let parts = Set(self.parts.split(separator: ",").map(String.init))
        for durable in [true, false] where parts.contains("store") {
            PrivateFiles.durableWrites = durable
            try storeAndRead(base: "\(base)/sr-\(durable)", n: durable ? count : count * 4, durable: durable)
        }
        PrivateFiles.durableWrites = false
        for size in listSizes.split(separator: ",").compactMap({ Int($0) }) where parts.contains("list") {
            try list(base: "\(base)/list-\(size)", entries: size)
        }
        PrivateFiles.durableWrites = true
        if parts.contains("unlock") { try unlock(base: "\(base)/unlock") }
    }

    func payload(_ index: Int) -> EntryPayload {
        let password = SecretBytes.random(count: 32)
        return EntryPayload(pfx: (0..<2600).map { UInt8(($0 + index) % 251) }, password: password,
                            certificateDER: (0..<870).map { UInt8($0 % 253) },
                            facts: CertificateFacts(friendlyName: "Tenant \(index) VB365 Tenant", thumbprintSHA1: String(repeating: "A", count: 40),
                                                    fingerprintSHA256: String(repeating: "B", count: 64), serialNumber: "0123456789ABCDEF",
                                                    notBefore: "2026-11-26T00:00:00Z", notAfter: "2028-11-26T00:00:00Z", policy: "default",
                                                    subject: "O=Tenant \(index), CN=Tenant \(index) VB365 Tenant"))
    }

    func storeAndRead(base: String, n: Int, durable: Bool) throws {
        let vault = try Vault.create(at: "\(base)/vault", protection: .keyFile(path: "\(base)/key/root.key"), actor: "bench")
        let floorDir = "\(base)/floor"
        try FileManager.default.createDirectory(atPath: floorDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var ours: [Double] = [], floors: [Double] = [], oursRead: [Double] = [], floorReads: [Double] = []
        var sampleSize = 0
        for index in 0..<n {
            let tenant = try TenantID("t\(index)")
            let item = payload(index)
            ours.append(time { _ = try? vault.store(tenant: tenant, payload: item) })
            if sampleSize == 0 {
                sampleSize = (try? Data(contentsOf: URL(fileURLWithPath: "\(base)/vault/tenants/t0/00000001.entry")).count) ?? 4000
            }
            floors.append(try time { try floorStore(dir: floorDir, index: index, size: sampleSize, durable: durable) })
        }
        for index in 0..<n {
            let tenant = try TenantID("t\(index)")
            oursRead.append(time { _ = try? vault.readOut(tenant: tenant, generation: 1, purpose: "bench") })
            floorReads.append(try time { try floorRead(dir: floorDir, index: index, durable: durable) })
        }
        print("store and read, \(durable ? "with fsync" : "without fsync"), N=\(n), entry file \(sampleSize) bytes, medians in µs:")
        print("  store  certvault \(fmt(median(ours)))   floor \(fmt(median(floors)))   ratio \(String(format: "%.2f", median(ours) / median(floors)))")
        print("  read   certvault \(fmt(median(oursRead)))   floor \(fmt(median(floorReads)))   ratio \(String(format: "%.2f", median(oursRead) / median(floorReads)))")
        print("")
    }

    /// The same work as a store without certvault's code: three AEAD seals with libsodium, the
    /// entry written to a temporary file in a new tenant folder (whose parent is flushed), linked into place, folder flushed; then an audit line
    /// appended and a head file replaced, and an index line appended, each flushed.
    func floorStore(dir: String, index: Int, size: Int, durable: Bool) throws {
        var key = [UInt8](repeating: 0, count: 32), nonce = [UInt8](repeating: 0, count: 24)
        randombytes_buf(&key, 32)
        var out = [UInt8](repeating: 0, count: size + 64)
        var outLength: UInt64 = 0
        for length in [32, size - 300, 150] {
            randombytes_buf(&nonce, 24)
            let message = [UInt8](repeating: 7, count: length)
            crypto_aead_xchacha20poly1305_ietf_encrypt(&out, &outLength, message, UInt64(length), [1, 2, 3], 3, nil, nonce, key)
        }
        let folder = "\(dir)/t\(index)"
        mkdir(folder, 0o700)
        if durable { syncFolder(dir) }
        let temporary = "\(folder)/.tmp", final = "\(folder)/00000001.entry"
        try writeFile(temporary, Array(out.prefix(size)), durable: durable)
        link(temporary, final)
        unlink(temporary)
        if durable { syncFolder(folder) }
        try floorAudit(dir: dir, durable: durable)
        appendLine("\(dir)/index", length: 160, durable: durable)
    }

    /// The audit part of the floor: one line appended, the head file replaced, each flushed.
    func floorAudit(dir: String, durable: Bool) throws {
        appendLine("\(dir)/audit.log", length: 230, durable: durable)
        try writeFile("\(dir)/.head.tmp", Array(String(repeating: "h", count: 140).utf8), durable: durable)
        rename("\(dir)/.head.tmp", "\(dir)/audit.head")
        if durable { syncFolder(dir) }
    }

    func appendLine(_ path: String, length: Int, durable: Bool) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        let line = [UInt8](repeating: UInt8(ascii: "x"), count: length) + [10]
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if durable { fsync(fd) }
        close(fd)
    }

    /// A read without certvault's code: read the file, three AEAD opens, and the audit append.
    func floorRead(dir: String, index: Int, durable: Bool) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/t\(index)/00000001.entry")))
        var key = [UInt8](repeating: 0, count: 32), nonce = [UInt8](repeating: 0, count: 24)
        randombytes_buf(&key, 32)
        randombytes_buf(&nonce, 24)
        var sealed = [UInt8](repeating: 0, count: bytes.count + 16)
        var length: UInt64 = 0
        crypto_aead_xchacha20poly1305_ietf_encrypt(&sealed, &length, bytes, UInt64(bytes.count), nil, 0, nil, nonce, key)
        var plain = [UInt8](repeating: 0, count: bytes.count)
        for _ in 0..<3 {
            _ = crypto_aead_xchacha20poly1305_ietf_decrypt(&plain, &length, nil, sealed, UInt64(sealed.count), nil, 0, nonce, key)
        }
        try floorAudit(dir: dir, durable: durable)
    }

    func list(base: String, entries: Int) throws {
        let protection = RootKeyProtection.keyFile(path: "\(base)/key/root.key")
        var fill = 0.0
        let vault: Vault
        if Vault.exists(at: "\(base)/vault") {
            vault = try Vault.open(at: "\(base)/vault", unlock: protection, actor: "bench")
        } else {
            vault = try Vault.create(at: "\(base)/vault", protection: protection, actor: "bench")
            // The synthetic filler writes the same entry files, index lines and audit records as
            // `store`, batched: 100,000 entries in seconds instead of minutes.
            fill = time { _ = try? vault.fillSynthetic(tenants: entries, prefix: "t") }
        }
        let before = maxRSS()
        var listed = 0
        // The first run pays the page cache and the heap's growth; the median of five is the figure.
        let samples = (0..<5).map { _ in time { listed = (try? vault.list().count) ?? -1 } }
        let after = maxRSS()
        let elapsed = median(samples)
        print("list over \(entries) entries (\(listed) listed; filled without fsync in \(fmt(fill / 1e6)) s):")
        print("  median of 5 \(String(format: "%.3f", elapsed / 1e6)) s (first \(String(format: "%.3f", samples[0] / 1e6)) s, "
            + "min \(String(format: "%.3f", samples.min()! / 1e6)) s), \(fmt(elapsed / Double(entries))) µs per entry; "
            + "peak RSS grew by \((after - before) / 1024) MiB (to \(after / 1024) MiB)")
        print("")
        if work == nil { try? FileManager.default.removeItem(atPath: base) }
    }

    func unlock(base: String) throws {
        print("unlock (Vault.open: root key, keyring):")
        _ = try Vault.create(at: "\(base)/kf", protection: .keyFile(path: "\(base)/key/root.key"), actor: "bench")
        let keyFile = (0..<5).map { _ in time { _ = try? Vault.open(at: "\(base)/kf", unlock: .keyFile(path: "\(base)/key/root.key")) } }
        print("  key file                  \(fmt(median(keyFile) / 1000)) ms")
        setenv("CERTVAULT_BENCH_PASS", "benchmark passphrase", 1)
        for (ops, mib) in [(1, 8), (2, 64), (3, 256), (4, 1024)] {
            let parameters = Argon2Parameters.belowWritingFloor(operations: UInt64(ops), memoryBytes: UInt64(mib) << 20)
            let path = "\(base)/p\(ops)"
            setenv("CERTVAULT_BENCH_PASS", "benchmark passphrase", 1)
            _ = try Vault.create(at: path, protection: .passphrase(.environment("CERTVAULT_BENCH_PASS"), parameters: parameters), actor: "bench")
            var samples: [Double] = []
            for _ in 0..<3 {
                setenv("CERTVAULT_BENCH_PASS", "benchmark passphrase", 1)
                samples.append(time { _ = try? Vault.open(at: path, unlock: .passphrase(.environment("CERTVAULT_BENCH_PASS"))) })
            }
            let label = "Argon2id \(ops) pass\(ops > 1 ? "es" : ""), \(mib) MiB" + (ops == 3 ? " (default)" : "")
            print("  " + label.padding(toLength: 26, withPad: " ", startingAt: 0) + "\(fmt(median(samples) / 1000)) ms")
        }
    }

    func writeFile(_ path: String, _ bytes: [UInt8], durable: Bool) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw ValidationError("cannot write \(path)") }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if durable { fsync(fd) }
        close(fd)
    }

    func syncFolder(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        fsync(fd)
        close(fd)
    }

    func time(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1000
    }

    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    func fmt(_ value: Double) -> String { String(format: "%9.1f", value) }

    func maxRSS() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss
    }

    func fileSystemType(_ path: String) -> String {
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        var best = ("", "unknown")
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 2 else { continue }
            let point = String(fields[1])
            if path.hasPrefix(point) && point.count > best.0.count { best = (point, "\(fields[2]) on \(point)") }
        }
        return best.1
    }
}
