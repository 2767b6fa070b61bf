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
struct EntryIndex {
    static let fileName = "index"
    static let headerLine = "certvault-index-v1\n"
    static let zeroMAC = String(repeating: "0", count: 64)

    let folder: String
    let key: SecretBytes

    init(folder: String, root: SecretBytes) {
        self.folder = folder
        key = AEAD.deriveKey(from: root, purpose: "certvault index key v1")
    }

    var path: String { "\(folder)/\(EntryIndex.fileName)" }

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
        var previous = try lastMAC(fd: fd)
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
        guard let data = FileManager.default.contents(atPath: path) else { return ([], "the index is missing") }
        let bytes = [UInt8](data)
        let header = Array(EntryIndex.headerLine.utf8)
        guard bytes.starts(with: header) else { return ([], "the index has no certvault-index-v1 header") }
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
        var previous = ArraySlice(Array(EntryIndex.zeroMAC.utf8))
        var lineNumber = 1
        var start = header.count
        while start < bytes.count {
            lineNumber += 1
            guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")), end - start > 65 else {
                return ([], "line \(lineNumber) is incomplete")
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
            guard difference == 0 else { return ([], "line \(lineNumber) fails its check (altered, removed or reordered lines)") }
            previous = macField
            let fields = bytes[start..<(end - 65)].split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
            guard fields.count == 7 else { return ([], "line \(lineNumber) is malformed") }
            guard let tenant = try? TenantID(String(decoding: fields[0], as: UTF8.self)), let generation = number(fields[1]),
                let created = number(fields[2]), let kek = number(fields[3]),
                let status = EntryMetadata.Status(rawValue: String(decoding: fields[4], as: UTF8.self))
            else { return ([], "line \(lineNumber) has invalid values") }
            latest[Key(tenant: tenant.rawValue, generation: Int(generation))] = EntrySummary(
                tenant: tenant, generation: Int(generation), created: UTCTime.dateTime(created), kekID: Int(kek),
                metadata: EntryMetadata(status: status, notAfter: String(decoding: fields[5], as: UTF8.self),
                                        thumbprintSHA1: String(decoding: fields[6], as: UTF8.self)))
            start = end + 1
        }
        let entries: [EntrySummary] = latest.values.sorted { (a: EntrySummary, b: EntrySummary) -> Bool in
            if a.tenant != b.tenant { return a.tenant < b.tenant }
            return a.generation < b.generation
        }
        return (entries, nil)
    }
}
