internal import CertVaultCore
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#endif

/// The vault's index (`index`): one authenticated line per stored generation and per change of
/// its status, KEK or metadata, so that `list` reads one file instead of opening every entry.
///
/// The entries stay the authority: `show` and `export` read the entry itself, and
/// `vault verify` compares the index with every entry. Lines are chained like the audit log:
///
///     tenant TAB generation TAB created TAB kek TAB status TAB notAfter TAB thumbprint TAB mac LF
///
/// with `mac = hex(BLAKE2b-256(key = index_key, message = prev_mac TAB line-up-to-and-including-the-last-TAB))`,
/// `prev_mac` being the previous line's mac (64 zeros for the first line after the header line
/// `certvault-index-v1`). The last line for a (tenant, generation) wins.
///
/// A chain shows edits, removals and reorderings, but a cut-off index is still a valid chain. So
/// `index.head` names its end, as `audit.head` names the audit log's:
///
///     size TAB mac TAB head_mac LF
///
/// with `size` the index's length in bytes after the last write, `mac` the mac of the line that
/// ends there (64 zeros for an index without lines) and
/// `head_mac = hex(BLAKE2b-256(key = index_key, message = "head" TAB size TAB mac))`. Lines are
/// appended before the head is replaced, so after a crash the index may be longer than its head
/// says (the extra lines are chained and authenticated), never shorter. An index without a head
/// (written by certvault before the head existed, or with the head removed) is not trusted:
/// `list` opens the entries instead until `certvault vault reindex` writes both.
struct EntryIndex {
    static let fileName = "index"
    static let headName = "index.head"
    static let headerLine = "certvault-index-v1\n"
    static let zeroMAC = String(repeating: "0", count: 64)

    let folder: String
    let key: SecretBytes

    init(folder: String, root: SecretBytes) {
        self.folder = folder
        key = AEAD.deriveKey(from: root, purpose: "certvault index key v1")
    }

    var path: String { "\(folder)/\(EntryIndex.fileName)" }
    var headPath: String { "\(folder)/\(EntryIndex.headName)" }

    /// What `index.head` says: the index's length and the mac of its last line.
    struct Head: Equatable {
        let size: Int
        let mac: String
    }

    func headMAC(size: Int, mac: String) -> String {
        Hex.lower(AEAD.keyedHash(Array("head\t\(size)\t\(mac)".utf8), key: key))
    }

    /// Reads and authenticates `index.head`; nil when there is none.
    ///
    /// - Throws: a reason when it exists but is not a head this vault's key wrote.
    func readHead() throws -> Head? {
        let bytes: [UInt8]
        do {
            bytes = try Vault.readFile(headPath, limit: 4096)
        } catch let error as CertVaultError where error.code == .notFound {
            return nil
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.hasSuffix("\n") ? text.dropLast().split(separator: "\t", omittingEmptySubsequences: false) : []
        guard parts.count == 3, let size = Int(parts[0]), size >= EntryIndex.headerLine.utf8.count, parts[1].utf8.count == 64,
            AEAD.equalHex(headMAC(size: size, mac: String(parts[1])), String(parts[2]))
        else { throw VaultError.authentication(headPath, "index head") }
        return Head(size: size, mac: String(parts[1]))
    }

    /// Replaces `index.head` (a new file with a unique name, flushed, renamed into place).
    ///
    /// - Parameter syncFolder: false after an append: the folder is flushed by the audit head
    ///   written next, and a rename a crash loses leaves the head behind the index, which is allowed.
    func writeHead(_ head: Head, syncFolder: Bool = true) throws {
        let text = "\(head.size)\t\(head.mac)\t\(headMAC(size: head.size, mac: head.mac))\n"
        let temporary = "\(folder)/.tmp-\(PrivateFiles.randomName())"
        do {
            try PrivateFiles.writeNewFile(temporary, bytes: Array(text.utf8))
            guard rename(temporary, headPath) == 0 else {
                throw CertVaultError(.fileSystem, "Cannot rename into '\(headPath)'.", underlying: PrivateFiles.errnoText())
            }
            if syncFolder { try PrivateFiles.syncDirectory(folder) }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Removes `index.head`, so that readers stop trusting an index a write could not update.
    func invalidate() {
        unlink(headPath)
    }

    func line(for summary: EntrySummary, created: Int64, previous: String) -> String {
        let m = summary.metadata
        let prefix = [summary.tenant.rawValue, String(summary.generation), String(created), String(summary.kekID), m.status.rawValue,
                      AuditLog.clean(m.notAfter), AuditLog.clean(m.thumbprintSHA1)].joined(separator: "\t") + "\t"
        return prefix + mac(previous: previous, prefix: prefix) + "\n"
    }

    func mac(previous: String, prefix: String) -> String {
        Hex.lower(AEAD.keyedHash(Array((previous + "\t" + prefix).utf8), key: key))
    }

    /// Appends lines for changed generations; the caller holds the vault lock.
    func append(_ items: [(EntrySummary, Int64)]) throws {
        guard !items.isEmpty else { return }
        let fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            throw CertVaultError(.vaultCorrupt, "The vault index '\(path)' cannot be opened.", hint: "Run 'certvault vault reindex'.",
                                 underlying: PrivateFiles.errnoText())
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw CertVaultError(.vaultCorrupt, "The vault index '\(path)' is not a regular file.", hint: "Move it away and run 'certvault vault reindex'.")
        }
        var previous = try lastMAC(fd: fd)
        // Never extend an index whose end does not match its head: the new head would vouch for
        // an index that lost lines (a cut-off index, or one from before heads existed).
        guard let head = try readHead() else {
            throw CertVaultError(.vaultCorrupt, "The vault index '\(path)' has no head.", hint: "Run 'certvault vault reindex'.")
        }
        let size = Int(lseek(fd, 0, SEEK_END))
        guard size >= head.size, try macOfLine(endingAt: head.size, fd: fd) == head.mac else {
            throw CertVaultError(.vaultCorrupt, "The vault index '\(path)' does not end where its head says.",
                                 hint: "Run 'certvault vault verify', then 'certvault vault reindex'.")
        }
        var text = ""
        for (summary, created) in items {
            let line = line(for: summary, created: created, previous: previous)
            previous = String(line.dropLast().suffix(64))
            text += line
        }
        try Array(text.utf8).withUnsafeBytes { try PrivateFiles.writeAll(fd: fd, $0, what: "the vault index") }
        guard !PrivateFiles.durableWrites || fsync(fd) == 0 else {
            throw CertVaultError(.fileSystem, "Cannot flush the vault index.", underlying: PrivateFiles.errnoText())
        }
        try writeHead(Head(size: Int(lseek(fd, 0, SEEK_END)), mac: previous), syncFolder: false)
    }

    /// The mac of the line that ends at byte `end` (64 zeros when `end` is the header's end).
    func macOfLine(endingAt end: Int, fd: Int32) throws -> String {
        guard end > EntryIndex.headerLine.utf8.count else { return EntryIndex.zeroMAC }
        var tail = [UInt8](repeating: 0, count: 66)
        guard pread(fd, &tail, 66, off_t(end - 66)) == 66, tail.last == UInt8(ascii: "\n"), tail.first == UInt8(ascii: "\t") else {
            return ""
        }
        return String(decoding: tail[1..<65], as: UTF8.self)
    }

    /// Writes a complete new index (creation, reindex) atomically.
    func rewrite(_ items: [(EntrySummary, Int64)]) throws {
        var previous = EntryIndex.zeroMAC
        var text = EntryIndex.headerLine
        for (summary, created) in items {
            let line = line(for: summary, created: created, previous: previous)
            previous = String(line.dropLast().suffix(64))
            text += line
        }
        try Vault.writeAtomically(Array(text.utf8), to: path, folder: folder)
        try writeHead(Head(size: text.utf8.count, mac: previous))
    }

    /// The mac of the last line, reading only the file's tail.
    func lastMAC(fd: Int32) throws -> String {
        let size = Int(lseek(fd, 0, SEEK_END))
        guard size > EntryIndex.headerLine.utf8.count else { return EntryIndex.zeroMAC }
        var tail = [UInt8](repeating: 0, count: 65)
        guard pread(fd, &tail, 65, off_t(size - 65)) == 65, tail.last == UInt8(ascii: "\n") else {
            throw CertVaultError(.vaultCorrupt, "The vault index '\(path)' ends with an incomplete line.", hint: "Run 'certvault vault reindex'.")
        }
        return String(decoding: tail.dropLast(), as: UTF8.self)
    }

    /// Reads and checks the whole index, folding it to the latest line per generation.
    ///
    /// Works on bytes: this runs over every line on every `list`.
    ///
    /// - Returns: the entries, or a reason when the index is missing or fails its checks.
    func read() -> (entries: [EntrySummary], problem: String?) {
        // The head first: a writer appends lines before it replaces the head, so an index read
        // after its head is never shorter than the head says.
        let head: Head
        do {
            guard let found = try readHead() else {
                let legacy = FileManager.default.fileExists(atPath: path)
                return ([], legacy ? "the index has no head (written by an earlier certvault, or its head was removed)" : "the index is missing")
            }
            head = found
        } catch {
            return ([], "index.head was altered")
        }
        let bytes: [UInt8]
        do {
            bytes = try Vault.readFile(path, limit: 1 << 31)
        } catch let error as CertVaultError {
            return ([], error.code == .notFound ? "the index is missing" : "the index cannot be read")
        } catch {
            return ([], "the index cannot be read")
        }
        guard bytes.count >= head.size else {
            return ([], "the index is \(bytes.count) bytes but its head says \(head.size): lines were removed from its end")
        }
        let parsed = parse(bytes, head: head)
        if let problem = parsed.problem { return ([], problem) }
        guard parsed.headMatched else { return ([], "the index does not end where index.head says (lines were removed or replaced)") }
        return (parsed.entries, nil)
    }

    /// The generations the index's authenticated lines name, whatever its head says: the lines
    /// before the first one that fails its check. Used to notice deleted entries.
    func readLines() -> [EntrySummary] {
        guard let bytes = try? Vault.readFile(path, limit: 1 << 31) else { return [] }
        return parse(bytes, head: nil).entries
    }

    /// Checks the lines in order, folding them to the latest per generation; stops at the first
    /// line that fails, returning what came before it and the reason.
    private func parse(_ bytes: [UInt8], head: Head?) -> (entries: [EntrySummary], problem: String?, headMatched: Bool) {
        var headMatched = head.map { $0.size == EntryIndex.headerLine.utf8.count && $0.mac == EntryIndex.zeroMAC } ?? false
        let header = Array(EntryIndex.headerLine.utf8)
        guard bytes.starts(with: header) else { return ([], "the index has no certvault-index-v1 header", false) }
        let tab: [UInt8] = [UInt8(ascii: "\t")]
        let hexDigits = Array("0123456789abcdef".utf8)
        struct Key: Hashable {
            let tenant: String
            let generation: Int
        }
        func number(_ field: ArraySlice<UInt8>) -> Int64? {
            guard !field.isEmpty, field.count <= 18 else { return nil }
            var value: Int64 = 0
            var negative = false
            for (position, byte) in field.enumerated() {
                if position == 0 && byte == UInt8(ascii: "-") {
                    negative = true
                    continue
                }
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return negative ? -value : value
        }
        var latest: [Key: EntrySummary] = [:]
        // Lines are 150-200 bytes: reserve for more than there can be, so the table never grows (a rehash of every entry).
        latest.reserveCapacity(bytes.count / 120)
        func sorted() -> [EntrySummary] {
            latest.values.sorted { (a: EntrySummary, b: EntrySummary) -> Bool in
                if a.tenant != b.tenant { return a.tenant < b.tenant }
                return a.generation < b.generation
            }
        }
        var previous = ArraySlice(Array(EntryIndex.zeroMAC.utf8))
        var lineNumber = 1
        var start = header.count
        while start < bytes.count {
            lineNumber += 1
            guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")), end - start > 65 else {
                return (sorted(), "line \(lineNumber) is incomplete", headMatched)
            }
            let macField = bytes[(end - 64)..<end]
            let digest = AEAD.keyedHash(parts: [previous, tab[...], bytes[start..<(end - 64)]], key: key)
            // Constant time: differences are accumulated, never returned early.
            var difference: UInt8 = bytes[end - 65] ^ UInt8(ascii: "\t")
            var position = macField.startIndex
            for byte in digest {
                let high: UInt8 = hexDigits[Int(byte >> 4)]
                let low: UInt8 = hexDigits[Int(byte & 0x0F)]
                difference |= (macField[position] ^ high) | (macField[position + 1] ^ low)
                position += 2
            }
            guard difference == 0 else { return (sorted(), "line \(lineNumber) fails its check (altered, removed or reordered lines)", headMatched) }
            previous = macField
            if let head, end + 1 == head.size { headMatched = macField.elementsEqual(head.mac.utf8) }
            let fields = bytes[start..<(end - 65)].split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
            guard fields.count == 7 else { return (sorted(), "line \(lineNumber) is malformed", headMatched) }
            guard let tenant = try? TenantID(String(decoding: fields[0], as: UTF8.self)), let generation = number(fields[1]),
                let created = number(fields[2]), let kek = number(fields[3]),
                let status = EntryMetadata.Status(rawValue: String(decoding: fields[4], as: UTF8.self))
            else { return (sorted(), "line \(lineNumber) has invalid values", headMatched) }
            latest[Key(tenant: tenant.rawValue, generation: Int(generation))] = EntrySummary(
                tenant: tenant, generation: Int(generation), created: UTCTime.dateTime(created), kekID: Int(kek),
                metadata: EntryMetadata(status: status, notAfter: String(decoding: fields[5], as: UTF8.self),
                                        thumbprintSHA1: String(decoding: fields[6], as: UTF8.self)))
            start = end + 1
        }
        return (sorted(), nil, headMatched)
    }
}
