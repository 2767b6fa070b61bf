internal import CSodium
internal import CertVaultCore
internal import CertVaultVault
public import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// Fuzzing the vault's readers through the public `Vault` API, on a vault folder written fresh
/// for every input in a scratch folder.
///
/// The vault is built here from docs/vault-format.md with libsodium and a FIXED TEST KEY (below;
/// it protects nothing real), so that the fuzzer gets past the header and the MACs:
/// - `vault-files` replaces one stored file with the input (first byte chooses which), so
///   mutations explore what is parsed before authentication, and a valid seed authenticates;
/// - `vault-sealed` seals or MACs the input with the fixed key first, so what is parsed after
///   authentication (payload fields, metadata JSON, index and audit fields, keyring records,
///   the files inside a backup) is reached.
/// Writing the files here instead of calling the vault's internal writers keeps these targets
/// independent of its internal API; if the format changes, the seeds stop authenticating and
/// the replay test `sealedSeedsAreAccepted` says so.
public enum VaultFuzzing {
    // MARK: The fixed test fixture

    /// The fixed test root key: 32 bytes computed here, used by nothing but these tests.
    static let rootKey: [UInt8] = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
    static let kek1: [UInt8] = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 5 &+ 3) }
    static let dataKey: [UInt8] = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ 9) }
    static let passphrase = "fuzz-test-passphrase"
    static let tenant = "tenant-a"
    static let created: Int64 = 1_767_225_600  // 2026-01-01T00:00:00Z
    static let notAfter = "2027-01-01T00:00:00Z"
    static let thumbprint = String(repeating: "ab", count: 20)
    static let zeroMAC = String(repeating: "0", count: 64)
    static let tab = UInt8(ascii: "\t"), newline = UInt8(ascii: "\n")

    static func nonce(_ seed: UInt8) -> [UInt8] { (0..<24).map { UInt8(truncatingIfNeeded: $0) ^ seed } }

    static func magic(_ kind: Character) -> [UInt8] { Array("CVAULT".utf8) + [kind.asciiValue!, 1] }

    /// The parts one after another (long `+` chains of arrays are slow to type-check).
    static func join(_ parts: [UInt8]...) -> [UInt8] { parts.flatMap { $0 } }

    static func u32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
    static func u64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }

    static let sodiumReady: Bool = sodium_init() >= 0

    static func keyedHash(_ message: [UInt8], key: [UInt8]) -> [UInt8] {
        precondition(sodiumReady)
        var out = [UInt8](repeating: 0, count: 32)
        _ = crypto_generichash(&out, 32, message, UInt64(message.count), key, key.count)
        return out
    }

    static func derive(_ purpose: String) -> [UInt8] { keyedHash(Array(purpose.utf8), key: rootKey) }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func seal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], aad: [UInt8]) -> [UInt8] {
        precondition(sodiumReady)
        var out = [UInt8](repeating: 0, count: plaintext.count + 16)
        var length: UInt64 = 0
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
            &out, &length, plaintext, UInt64(plaintext.count), aad, UInt64(aad.count), nil,
            nonce, key)
        return out
    }

    // MARK: Files of the fixture vault

    static var keyFile: [UInt8] { Array(("certvault-root-key-v1\n" + Data(rootKey).base64EncodedString() + "\n").utf8) }

    /// A keyring with the given (id, created) records; id 1 holds ``kek1``, others a derived key.
    static func keyring(records: [(UInt32, Int64)] = [(1, created)], trailing: [UInt8] = []) -> [UInt8] {
        let wrapKey = derive("certvault keyring wrap key v1")
        var out = join(magic("K"), u32(UInt32(records.count)))
        for (index, (id, stamp)) in records.enumerated() {
            let kek = id == 1 ? kek1 : keyedHash(u32(id), key: kek1)
            let n = nonce(UInt8(truncatingIfNeeded: 0x40 + index))
            out += join(u32(id), u64(UInt64(bitPattern: stamp)), n)
            out += seal(kek, key: wrapKey, nonce: n, aad: join(magic("K"), u32(id), u64(UInt64(bitPattern: stamp))))
        }
        out += trailing
        return out + keyedHash(out, key: derive("certvault keyring mac key v1"))
    }

    static func payloadField(_ tag: UInt8, _ value: [UInt8]) -> [UInt8] { join([tag], u32(UInt32(value.count)), value) }

    /// The plaintext of a payload (tag, 4-byte length, value) with made-up, non-secret values.
    static var payload: [UInt8] {
        join(
            payloadField(1, Array("not a real pfx".utf8)), payloadField(2, Array("not a real password".utf8)),
            payloadField(3, []), payloadField(4, Array("tenant-a fuzz".utf8)), payloadField(5, Array(thumbprint.utf8)),
            payloadField(6, Array(String(repeating: "cd", count: 32).utf8)), payloadField(7, Array("01".utf8)),
            payloadField(8, Array("2026-01-01T00:00:00Z".utf8)), payloadField(9, Array(notAfter.utf8)),
            payloadField(10, Array("default".utf8)), payloadField(11, Array("CN=tenant-a".utf8)))
    }

    static var metadata: [UInt8] {
        Array("{\"notAfter\":\"\(notAfter)\",\"status\":\"active\",\"thumbprintSHA1\":\"\(thumbprint)\"}".utf8)
    }

    /// Generation 1 of ``tenant``, sealed with ``kek1``.
    static func entry(payload: [UInt8] = payload, metadata: [UInt8] = metadata) -> [UInt8] {
        let tenantBytes = Array(tenant.utf8)
        let header = join(magic("E"), [1, UInt8(tenantBytes.count)], tenantBytes, u32(1), u64(UInt64(bitPattern: created)))
        let keyNonce = nonce(1), payloadNonce = nonce(2), metadataNonce = nonce(3)
        let wrappedKey = seal(dataKey, key: kek1, nonce: keyNonce, aad: join(header, Array("key".utf8), u32(1)))
        let sealedPayload = seal(payload, key: dataKey, nonce: payloadNonce, aad: join(header, Array("payload".utf8)))
        let sealedMetadata = seal(metadata, key: dataKey, nonce: metadataNonce, aad: join(header, Array("metadata".utf8), u32(1)))
        return join(
            header, u32(1), keyNonce, wrappedKey, payloadNonce, u32(UInt32(sealedPayload.count)), sealedPayload,
            u32(1), metadataNonce, u32(UInt32(sealedMetadata.count)), sealedMetadata)
    }

    /// An index whose lines are `prefix TAB mac`, chained from the header line.
    static func index(lines: [[UInt8]] = [defaultIndexLine]) -> [UInt8] {
        let key = derive("certvault index key v1")
        var out = Array("certvault-index-v1\n".utf8)
        var previous = Array(zeroMAC.utf8)
        for line in lines {
            let prefix = join(line, [tab])
            let mac = Array(hex(keyedHash(join(previous, [tab], prefix), key: key)).utf8)
            out += join(prefix, mac, [newline])
            previous = mac
        }
        return out
    }

    static var defaultIndexLine: [UInt8] {
        Array([tenant, "1", String(created), "1", "active", notAfter, thumbprint].joined(separator: "\t").utf8)
    }

    /// An audit log whose records are `fields TAB prev TAB mac`, and its head.
    static func audit(records: [[UInt8]] = [defaultAuditRecord]) -> (log: [UInt8], head: [UInt8]?) {
        let key = derive("certvault audit key v1")
        var log: [UInt8] = []
        var previous = Array(zeroMAC.utf8)
        var head: [UInt8]?
        for record in records {
            let prefix = join(record, [tab], previous, [tab])
            let mac = Array(hex(keyedHash(prefix, key: key)).utf8)
            log += join(prefix, mac, [newline])
            previous = mac
            let body = join(Array(record.prefix { $0 != tab }), [tab], mac)
            head = join(body, [tab], Array(hex(keyedHash(join(Array("head\t".utf8), body), key: key)).utf8), [newline])
        }
        return (log, head)
    }

    static var defaultAuditRecord: [UInt8] {
        Array(["1", "2026-01-01T00:00:00Z", "fuzz", "vault.init", "-", "-", "root key in key file; KEK 1"].joined(separator: "\t").utf8)
    }

    /// A `root.passphrase` wrapping the root key with the cheapest Argon2id libsodium allows.
    static let rootPassphrase: [UInt8] = {
        precondition(sodiumReady)
        let salt = [UInt8](repeating: 0x5A, count: Int(crypto_pwhash_SALTBYTES))
        let n = nonce(4)
        let operations = UInt64(crypto_pwhash_argon2id_OPSLIMIT_MIN), memory = UInt64(crypto_pwhash_argon2id_MEMLIMIT_MIN)
        let header = join(magic("R"), [1], u64(operations), u64(memory), salt, n)
        var wrappingKey = [UInt8](repeating: 0, count: 32)
        let pass = Array(passphrase.utf8)
        let status = pass.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { c in
                crypto_pwhash(
                    &wrappingKey, 32, c.baseAddress!, UInt64(c.count), salt, operations, Int(memory), crypto_pwhash_ALG_ARGON2ID13)
            }
        }
        precondition(status == 0)
        return header + seal(rootKey, key: wrappingKey, nonce: n, aad: header)
    }()

    /// The files of the whole vault, for a backup's plaintext.
    static var vaultFiles: [(String, [UInt8])] {
        let (log, head) = audit()
        return [("keyring", keyring()), ("audit.log", log), ("audit.head", head ?? []), ("tenants/\(tenant)/00000001.entry", entry())]
    }

    static func backupPlaintext(_ files: [(String, [UInt8])]) -> [UInt8] {
        files.flatMap { name, bytes in
            let nameBytes = Array(name.utf8)
            return join([UInt8(nameBytes.count >> 8), UInt8(nameBytes.count & 0xFF)], nameBytes, u64(UInt64(bytes.count)), bytes)
        }
    }

    /// A backup bundle of a key-file vault holding `plaintext`.
    static func backup(plaintext: [UInt8] = backupPlaintext(vaultFiles)) -> [UInt8] {
        let n = nonce(5)
        let header = join(magic("B"), [0], n, u64(UInt64(plaintext.count + 16)))
        return header + seal(plaintext, key: derive("certvault backup key v1"), nonce: n, aad: header)
    }

    // MARK: The template vault

    /// The fixture vault's files (path in the vault folder -> bytes) and a backup of it.
    ///
    /// Key file, keyring, entry and audit log are written here (fixed, deterministic); the index
    /// (and whatever else `vault reindex` writes, such as an index head) and the backup come from
    /// the vault's own code, opened with the fixed key, so they follow its current format.
    struct Template {
        let files: [String: [UInt8]]
        let bundle: [UInt8]
    }

    static let template: Template = {
        do {
            return try makeTemplate()
        } catch {
            // Without a template the vault targets would test nothing; the replay test
            // `fixtureVaultIsValid` names the error.
            return Template(files: [:], bundle: [])
        }
    }()

    static func makeTemplate() throws -> Template {
        let scratch = Scratch()
        defer { scratch.remove() }
        let vault = "\(scratch.path)/vault"
        let keyPath = "\(scratch.path)/root.key"
        let (log, head) = audit()
        try writeFolder(
            vault,
            files: [
                "keyring": keyring(), "tenants/\(tenant)/00000001.entry": entry(), "audit.log": log,
                "audit.head": head ?? [],
            ])
        try writeFile(keyFile, to: keyPath)
        let opened = try Vault.open(at: vault, unlock: .keyFile(path: keyPath), actor: "fuzz")
        _ = try opened.reindex()
        try writeFolder(vault, files: ["audit.log": log, "audit.head": head ?? []])
        let bundlePath = "\(scratch.path)/backup.cvb"
        _ = try opened.backup(to: bundlePath)
        try writeFolder(vault, files: ["audit.log": log, "audit.head": head ?? []])
        var files: [String: [UInt8]] = [:]
        for path in (FileManager.default.subpaths(atPath: vault) ?? []).sorted() where path != "lock" && !path.contains(".tmp") {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: "\(vault)/\(path)", isDirectory: &isFolder), !isFolder.boolValue else { continue }
            files[path] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(vault)/\(path)")))
        }
        return Template(files: files, bundle: [UInt8](try Data(contentsOf: URL(fileURLWithPath: bundlePath))))
    }

    /// Writes `files` (path -> bytes, nil: remove) into `folder`, making folders 0700 and files 0600.
    static func writeFolder(_ folder: String, files: [String: [UInt8]?]) throws {
        _ = mkdir(folder, 0o700)
        for (path, bytes) in files.sorted(by: { $0.key < $1.key }) {
            let full = "\(folder)/\(path)"
            unlink(full)
            guard let bytes else { continue }
            var parent = ""
            for part in path.split(separator: "/").dropLast() {
                parent += "/\(part)"
                _ = mkdir(folder + parent, 0o700)
            }
            try writeFile(bytes, to: full)
        }
    }

    static func writeFile(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CertVaultError(.fileSystem, "fuzz fixture: cannot create \(path)") }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let wrote = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            guard wrote > 0 else { throw CertVaultError(.fileSystem, "fuzz fixture: cannot write \(path)") }
            done += wrote
        }
    }

    /// An index head for `index` when the vault keeps one (`size TAB mac TAB head_mac`, as
    /// docs/vault-format.md describes it), so that a MACed index is trusted whole.
    static func indexHead(for index: [UInt8]) -> [UInt8]? {
        guard template.files["index.head"] != nil else { return nil }
        let lastMAC = index.count > 65 && index.last == newline ? String(decoding: index.dropLast().suffix(64), as: UTF8.self) : zeroMAC
        let body = "\(index.count)\t\(lastMAC)"
        return Array((body + "\t" + hex(keyedHash(Array("head\t\(body)".utf8), key: derive("certvault index key v1"))) + "\n").utf8)
    }

    // MARK: Running one input

    /// The stored file that `vault-files` replaces with the input (after its first byte).
    enum RawFile: UInt8, CaseIterable {
        case entry, keyring, index, auditLog, auditHead, backup, keyFile, rootPassphrase
    }

    /// What `vault-sealed` seals or MACs with the fixed key (chosen by the first byte).
    enum SealedPart: UInt8, CaseIterable {
        case payload, metadata, indexLines, auditRecords, keyringRecords, backupContents
    }

    static let entryPath = "tenants/\(tenant)/00000001.entry"

    /// One input for `vault-files`: byte 0 chooses the file (``RawFile``), the rest is its content.
    @Sendable public static func rawFile(_ data: Data) {
        guard let first = data.first else { return }
        let part = RawFile(rawValue: first % UInt8(RawFile.allCases.count))!
        let content = [UInt8](data.dropFirst())
        var files = Files()
        switch part {
        case .entry: files.vault[entryPath] = content
        case .keyring: files.vault["keyring"] = content
        case .index: files.vault["index"] = content
        case .auditLog: files.vault["audit.log"] = content
        case .auditHead: files.vault["audit.head"] = content
        case .backup: files.bundle = content
        case .keyFile: files.keyFile = content
        case .rootPassphrase:
            // Argon2id costs come from the file; costly ones are issue 9 item 19 (capped on
            // another branch), not what this target looks for: skip them.
            if content.count >= 25 {
                let operations = content[9..<17].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                let memory = content[17..<25].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                guard operations <= 2, memory <= 1 << 20 else { return }
            }
            files.vault["root.passphrase"] = content
            files.passphrase = true
        }
        files.run()
    }

    /// One input for `vault-sealed`: byte 0 chooses the part (``SealedPart``); the rest is sealed
    /// or MACed with the fixed key into a vault that is otherwise valid.
    @Sendable public static func sealed(_ data: Data) {
        guard let first = data.first else { return }
        let part = SealedPart(rawValue: first % UInt8(SealedPart.allCases.count))!
        let content = [UInt8](data.dropFirst())
        var files = Files()
        func lines() -> [[UInt8]] { content.split(separator: newline, omittingEmptySubsequences: false).map(Array.init) }
        switch part {
        case .payload: files.vault[entryPath] = entry(payload: content)
        case .metadata:
            files.vault[entryPath] = entry(metadata: content)
            files.vault["index"] = .some(nil)  // `list` then reads the metadata from the entry
            files.vault["index.head"] = .some(nil)
        case .indexLines:
            let written = index(lines: lines())
            files.vault["index"] = written
            if let head = indexHead(for: written) { files.vault["index.head"] = head }
        case .auditRecords:
            let (log, head) = audit(records: lines())
            files.vault["audit.log"] = log
            files.vault["audit.head"] = .some(head)
        case .keyringRecords:
            let whole = content.count / 12
            let records = (0..<min(whole, 64)).map { i -> (UInt32, Int64) in
                let chunk = content[(i * 12)..<(i * 12 + 12)]
                return (
                    chunk.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) },
                    Int64(bitPattern: chunk.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
                )
            }
            files.vault["keyring"] = keyring(records: records, trailing: whole > 64 ? [] : Array(content[(whole * 12)...]))
        case .backupContents: files.bundle = backup(plaintext: content)
        }
        files.run()
    }

    /// The template vault with some files replaced, and what is done with it.
    struct Files {
        /// Replacements of the template's files (nil: the file is absent).
        var vault: [String: [UInt8]?] = [:]
        var keyFile: [UInt8] = VaultFuzzing.keyFile
        /// Open with the passphrase (and `root.passphrase`) instead of the key file.
        var passphrase = false
        /// Restore this bundle instead of opening the vault.
        var bundle: [UInt8]?

        /// Writes the files into a new scratch folder, reads them the ways the program does, and
        /// removes the folder.
        func run() {
            attempt { _ = try open() }
        }

        /// Writes the files and opens the vault (or restores the bundle) and reads it; returns
        /// the problems `vault verify` finds.
        func open() throws -> [String] {
            let scratch = Scratch()
            defer { scratch.remove() }
            let folder = "\(scratch.path)/vault"
            let keyPath = "\(scratch.path)/root.key"
            let passphrasePath = "\(scratch.path)/passphrase"
            var files: [String: [UInt8]?] = template.files.mapValues { $0 }
            for (path, bytes) in vault { files[path] = bytes }
            if bundle == nil { try writeFolder(folder, files: files) }
            try writeFile(keyFile, to: keyPath)
            try writeFile(Array(VaultFuzzing.passphrase.utf8), to: passphrasePath)
            let opened: Vault
            if let bundle {
                try writeFile(bundle, to: "\(scratch.path)/backup.cvb")
                opened = try Vault.restore(
                    from: "\(scratch.path)/backup.cvb", to: "\(scratch.path)/restored",
                    unlock: .keyFile(path: keyPath), actor: "fuzz")
            } else {
                let unlock: RootKeyProtection =
                    passphrase
                    ? .passphrase(.file(passphrasePath), parameters: Argon2Parameters(operations: 1, memoryBytes: 8192))
                    : .keyFile(path: keyPath)
                opened = try Vault.open(at: folder, unlock: unlock, actor: "fuzz")
            }
            return read(opened)
        }

        /// The reads `list`, `show`, `vault verify` and `audit verify` make; none writes.
        func read(_ vault: Vault) -> [String] {
            var problems: [String] = []
            attempt { FuzzEntries.blackHole(try vault.list().map { "\($0.tenant) \($0.generation) \($0.created) \($0.metadata)" }) }
            if let warning = vault.indexWarning { problems.append(warning) }
            attempt { FuzzEntries.blackHole(try vault.summary(tenant: try TenantID(tenant), generation: 1)) }
            do { problems += try vault.verify().problems } catch { problems.append("\(error)") }
            let (records, auditProblems) = vault.auditRecords()
            FuzzEntries.blackHole(records.map { "\($0.sequence) \($0.tenant ?? "-") \($0.generation ?? 0) \($0.detail)" })
            return problems + auditProblems
        }

        func attempt(_ body: () throws -> Void) {
            do { try body() } catch { FuzzEntries.show(error) }
        }
    }

    /// A fresh folder under `CERTVAULT_FUZZ_SCRATCH` (or the temporary folder), removed after one input.
    struct Scratch {
        static let base = ProcessInfo.processInfo.environment["CERTVAULT_FUZZ_SCRATCH"] ?? NSTemporaryDirectory()
        let path: String

        init() {
            var template = Array("\(Scratch.base)/cvfuzz-XXXXXX".utf8CString)
            path =
                template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!).map { String(cString: $0) } }
                ?? "\(Scratch.base)/cvfuzz-failed"
        }

        func remove() { try? FileManager.default.removeItem(atPath: path) }
    }

    // MARK: Checking the fixture

    /// What the fixture gives when read: nothing may be wrong with it, or the vault targets
    /// would stop at a MAC and fuzz nothing behind it.
    public struct FixtureReport: Sendable {
        /// Files in the template vault (keyring, entry, index and its head if any, audit log and head).
        public let files: [String]
        /// Problems `vault verify` and `audit verify` find, per way of reading the fixture; all empty when valid.
        public let problems: [String: [String]]
    }

    /// Reads the fixture every way the targets do with their valid seeds.
    public static func checkFixture() throws -> FixtureReport {
        _ = try makeTemplate()  // throws what building the template met
        var problems: [String: [String]] = [:]
        problems["template, key file"] = try Files().open()
        var withPassphrase = Files()
        withPassphrase.vault["root.passphrase"] = rootPassphrase
        withPassphrase.passphrase = true
        problems["template, passphrase"] = try withPassphrase.open()
        var sealedIndex = Files()
        let written = index()
        sealedIndex.vault["index"] = written
        if let head = indexHead(for: written) { sealedIndex.vault["index.head"] = head }
        problems["index MACed here"] = try sealedIndex.open()
        if written != template.files["index"] { problems["index MACed here", default: []].append("differs from what reindex writes") }
        var backupHere = Files()
        backupHere.bundle = backup()
        problems["backup sealed here (format 1)"] = try backupHere.open()
        var backupByVault = Files()
        backupByVault.bundle = template.bundle
        problems["backup written by the vault"] = try backupByVault.open()
        return FixtureReport(files: template.files.keys.sorted(), problems: problems)
    }

    // MARK: Seeds

    /// The seed inputs of the vault targets: every file valid under the fixed test key, so the
    /// fuzzer starts past the headers and MACs. The deterministic ones are committed under
    /// Tests/Fuzz/corpus (`CERTVAULT_FUZZ_WRITE_SEEDS=1 swift test --filter vaultSeedsAreCurrent`);
    /// `fresh` adds a backup the vault's current code writes (random nonce), which Tests/Fuzz/run.sh
    /// adds to each run.
    public static func seeds(fresh: Bool = false) -> [String: [(String, Data)]] {
        func raw(_ file: RawFile, _ bytes: [UInt8], name: String = "") -> (String, Data) {
            ("seed-\(file)\(name)", Data([file.rawValue] + bytes))
        }
        func sealed(_ part: SealedPart, _ name: String, _ bytes: [UInt8]) -> (String, Data) {
            ("seed-\(part)\(name)", Data([part.rawValue] + bytes))
        }
        let (log, head) = audit()
        let twoIndexLines = [
            defaultIndexLine, Array([tenant, "1", String(created), "1", "retired", notAfter, thumbprint].joined(separator: "\t").utf8),
        ]
        var files = [
            raw(.entry, entry()), raw(.keyring, keyring()), raw(.index, index()), raw(.auditLog, log), raw(.auditHead, head ?? []),
            raw(.backup, backup()), raw(.keyFile, keyFile), raw(.rootPassphrase, rootPassphrase),
        ]
        if fresh { files.append(raw(.backup, template.bundle, name: "-current-format")) }
        return [
            "vault-files": files,
            "vault-sealed": [
                sealed(.payload, "", payload), sealed(.metadata, "", metadata),
                sealed(
                    .metadata, "-full",
                    Array(
                        ("{\"applicationID\":\"app\",\"msid\":\"m\",\"notAfter\":\"\(notAfter)\",\"onboardingState\":\"done\","
                            + "\"region\":\"Worldwide\",\"status\":\"retired\",\"thumbprintSHA1\":\"\(thumbprint)\",\"vb365OrganizationID\":\"o\"}")
                            .utf8)),
                sealed(.indexLines, "", defaultIndexLine), sealed(.indexLines, "-two", Array(twoIndexLines.joined(separator: [newline]))),
                sealed(.auditRecords, "", defaultAuditRecord),
                sealed(.keyringRecords, "", join(u32(1), u64(UInt64(created)), u32(2), u64(UInt64(created + 86_400)))),
                sealed(.backupContents, "", backupPlaintext(vaultFiles)),
            ],
        ]
    }
}
