internal import CertVaultCore
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#endif

/// The vault's append-only, hash-chained, authenticated audit log (`audit.log`), and its head
/// (`audit.head`). Format: docs/vault-format.md.
///
/// Each line is `seq TAB time TAB actor TAB action TAB tenant TAB generation TAB detail TAB prev TAB mac`,
/// where `prev` is the previous line's `mac` (64 zeros for the first) and `mac` is BLAKE2b-256,
/// keyed with a key derived from the root key, of everything before it on the line including
/// the last tab. Editing, removing or reordering a line breaks the chain; `audit.head` holds
/// the last sequence number and mac, so removing lines from the end is detected too.
public struct AuditLog: Sendable {
    /// One record.
    public struct Record: Sendable, Hashable, Codable {
        public let sequence: Int
        public let time: String
        public let actor: String
        public let action: String
        public let tenant: String?
        public let generation: Int?
        public let detail: String
    }

    static let fileName = "audit.log"
    static let headName = "audit.head"
    static let zeroMAC = String(repeating: "0", count: 64)

    let folder: String
    let key: SecretBytes

    init(folder: String, root: SecretBytes) {
        self.folder = folder
        key = AEAD.deriveKey(from: root, purpose: "certvault audit key v1")
    }

    var path: String { "\(folder)/\(AuditLog.fileName)" }
    var headPath: String { "\(folder)/\(AuditLog.headName)" }

    /// The longest a field may be; longer text is cut, so a record always fits the tail window
    /// that appends read.
    static let maximumFieldLength = 300

    /// Replaces tabs, line breaks and other control characters with spaces and cuts long text.
    static func clean(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.prefix(maximumFieldLength).map {
            $0.properties.generalCategory == .control ? " " : Character($0)
        })
        return text.unicodeScalars.count > maximumFieldLength ? cleaned + "…" : cleaned
    }

    func mac(_ prefix: String) -> String {
        Hex.lower(AEAD.keyedHash(Array(prefix.utf8), key: key))
    }

    /// Appends one record; the caller holds the vault lock.
    ///
    /// The chain continues from the log's last line (not from the head, which a crash between
    /// the two writes can leave one record behind).
    func append(actor: String, action: String, tenant: String? = nil, generation: Int? = nil, detail: String = "",
                now: Int64? = nil) throws {
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw CertVaultError(.fileSystem, "Cannot open the audit log '\(path)'.", underlying: PrivateFiles.errnoText())
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw CertVaultError(.fileSystem, "The audit log '\(path)' is not a regular file.",
                                 hint: "Move what is in its place away and put the log back from a backup.")
        }
        let (lastSequence, lastMAC) = try lastRecord(fd: fd) ?? (0, AuditLog.zeroMAC)
        let fields = [
            String(lastSequence + 1), UTCTime.dateTime(now ?? UTCTime.now()), AuditLog.clean(actor), AuditLog.clean(action),
            AuditLog.clean(tenant ?? "-"), generation.map(String.init) ?? "-", AuditLog.clean(detail.isEmpty ? "-" : detail), lastMAC,
        ]
        let prefix = fields.joined(separator: "\t") + "\t"
        let recordMAC = mac(prefix)
        let line = Array((prefix + recordMAC + "\n").utf8)
        try line.withUnsafeBytes { try PrivateFiles.writeAll(fd: fd, $0, what: "the audit log") }
        guard !PrivateFiles.durableWrites || fsync(fd) == 0 else {
            throw CertVaultError(.fileSystem, "Cannot flush the audit log.", underlying: PrivateFiles.errnoText())
        }
        try writeHead(sequence: lastSequence + 1, mac: recordMAC)
    }

    /// One record to append with ``appendMany(_:actor:now:)``.
    struct Pending {
        let action: String
        let tenant: String?
        let generation: Int?
        let detail: String
        /// The record's actor; nil for the `actor` given to ``appendMany(_:actor:now:)``.
        var actor: String? = nil
    }

    /// Appends many records in large writes and updates the head once; the caller holds the
    /// vault lock. For bulk work (and synthetic test vaults): the log's bytes are exactly those
    /// of one ``append(actor:action:tenant:generation:detail:now:)`` per record. The group commit
    /// of credential reads (``AuditCommitter``) writes its batches with it: one write and one fsync
    /// for many records.
    ///
    /// - Returns: the sequence numbers given to the records, in order (nil when there were none).
    @discardableResult
    func appendMany(_ records: [Pending], actor: String, now: Int64? = nil) throws -> ClosedRange<Int>? {
        guard !records.isEmpty else { return nil }
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw CertVaultError(.fileSystem, "Cannot open the audit log '\(path)'.", underlying: PrivateFiles.errnoText())
        }
        defer { close(fd) }
        var (sequence, previous) = try lastRecord(fd: fd) ?? (0, AuditLog.zeroMAC)
        let first = sequence + 1
        let time = UTCTime.dateTime(now ?? UTCTime.now())
        let cleanActor = AuditLog.clean(actor)
        var block: [UInt8] = []
        block.reserveCapacity(1 << 20)
        for record in records {
            sequence += 1
            let fields = [
                String(sequence), time, record.actor.map(AuditLog.clean) ?? cleanActor, AuditLog.clean(record.action), AuditLog.clean(record.tenant ?? "-"),
                record.generation.map(String.init) ?? "-", AuditLog.clean(record.detail.isEmpty ? "-" : record.detail), previous,
            ]
            let prefix = fields.joined(separator: "\t") + "\t"
            previous = mac(prefix)
            block += Array((prefix + previous + "\n").utf8)
            if block.count >= 1 << 20 {
                try block.withUnsafeBytes { try PrivateFiles.writeAll(fd: fd, $0, what: "the audit log") }
                block.removeAll(keepingCapacity: true)
            }
        }
        try block.withUnsafeBytes { try PrivateFiles.writeAll(fd: fd, $0, what: "the audit log") }
        guard !PrivateFiles.durableWrites || fsync(fd) == 0 else {
            throw CertVaultError(.fileSystem, "Cannot flush the audit log.", underlying: PrivateFiles.errnoText())
        }
        try writeHead(sequence: sequence, mac: previous)
        return first...sequence
    }

    /// The sequence number and mac of the log's last complete line, reading only its tail.
    func lastRecord(fd: Int32) throws -> (Int, String)? {
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return nil }
        let window = min(Int(size), 8192)
        var tail = [UInt8](repeating: 0, count: window)
        guard pread(fd, &tail, window, off_t(Int(size) - window)) == window else {
            throw CertVaultError(.fileSystem, "Cannot read the audit log '\(path)'.", underlying: PrivateFiles.errnoText())
        }
        if tail.last != UInt8(ascii: "\n") {
            // A write cut short (a full disk): end the fragment so that the next record starts
            // on its own line. The fragment stays visible to `audit verify` as a malformed line;
            // the chain continues from the last complete record.
            let newline: [UInt8] = [UInt8(ascii: "\n")]
            _ = newline.withUnsafeBytes { write(fd, $0.baseAddress, 1) }
            tail.append(UInt8(ascii: "\n"))
        }
        // From the end backwards, one line at a time: almost always the last line is a record,
        // and only it is decoded (this runs on every store and read-out).
        var end = tail.count - 1
        while end > 0 {
            var start = end
            while start > 0 && tail[start - 1] != UInt8(ascii: "\n") { start -= 1 }
            // A line cut by the window's start is incomplete: only lines that start in the window count.
            if start > 0 || window == Int(size) {
                let fields = String(decoding: tail[start..<end], as: UTF8.self).split(separator: "\t", omittingEmptySubsequences: false)
                if fields.count == 9, let sequence = AuditLog.sequenceNumber(fields[0]), fields[8].count == 64 { return (sequence, String(fields[8])) }
            }
            end = start - 1
        }
        throw VaultError.corrupt(path, "its last lines are not audit records", hint: "Run 'certvault audit verify'; restore the log from a backup.")
    }

    /// The largest sequence number a record or the head may carry (2^52, far beyond any real
    /// log): arithmetic on a sequence number read from a file can then never overflow, however
    /// the file was planted or corrupted.
    static let maximumSequence = 1 << 52

    /// A sequence number read from the log or its head: decimal, 1 to ``maximumSequence``;
    /// nil for anything else (a malformed record, never a trap).
    static func sequenceNumber(_ text: some StringProtocol) -> Int? {
        guard let value = Int(text), value >= 1, value <= maximumSequence else { return nil }
        return value
    }

    /// The last sequence number and mac, from `audit.head`, authenticated.
    func head() throws -> (Int, String)? {
        guard let bytes = try? Vault.readFile(headPath, limit: 4096) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.trimmingCharacters(in: .newlines).split(separator: "\t").map(String.init)
        guard parts.count == 3, let sequence = AuditLog.sequenceNumber(parts[0]), AEAD.equalHex(mac("head\t\(parts[0])\t\(parts[1])"), parts[2]) else {
            throw VaultError.authentication(headPath, "audit head")
        }
        return (sequence, parts[1])
    }

    private func writeHead(sequence: Int, mac recordMAC: String) throws {
        let body = "\(sequence)\t\(recordMAC)"
        let text = body + "\t" + mac("head\t\(body)") + "\n"
        // A new file under a unique name (O_CREAT | O_EXCL | O_NOFOLLOW), never a fixed name
        // opened with truncation: a link planted under a predictable name is never written through.
        try Vault.writeAtomically(Array(text.utf8), to: headPath, folder: folder)
    }

    /// Reads every record, checking the chain, each mac and the head.
    ///
    /// - Returns: the records and a list of problems (empty when the log is intact).
    func verify() -> (records: [Record], problems: [String]) {
        var problems: [String] = []
        var records: [Record] = []
        let text = (try? Vault.readFile(path, limit: 1 << 31)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        var previous = AuditLog.zeroMAC
        var expectedSequence = 1
        var macs: [String] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            let lineNumber = index + 1
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 9, let sequence = AuditLog.sequenceNumber(fields[0]) else {
                problems.append("line \(lineNumber): malformed record")
                continue
            }
            let prefix = fields[0..<8].joined(separator: "\t") + "\t"
            if !AEAD.equalHex(mac(prefix), fields[8]) { problems.append("line \(lineNumber): record was altered (its MAC does not match)") }
            if fields[7] != previous { problems.append("line \(lineNumber): chain broken (a record before it was removed, altered or reordered)") }
            if sequence != expectedSequence { problems.append("line \(lineNumber): sequence \(sequence) where \(expectedSequence) was expected") }
            previous = fields[8]
            macs.append(fields[8])
            expectedSequence = sequence + 1
            records.append(Record(sequence: sequence, time: fields[1], actor: fields[2], action: fields[3],
                                  tenant: fields[4] == "-" ? nil : fields[4], generation: Int(fields[5]), detail: fields[6]))
        }
        do {
            if let (sequence, headMAC) = try head() {
                // The head may lag the log by one record after a crash between the two writes;
                // it may never be ahead of it, and it must name the record at its sequence.
                let last = expectedSequence - 1
                let named = records.indices.contains(sequence - 1) ? macs[sequence - 1] : nil
                if sequence > last {
                    problems.append("the log ends at record \(last) but its head says \(sequence): records were removed from the end")
                } else if sequence < last - 1 || named != headMAC {
                    problems.append("audit.head does not match record \(sequence) of the log")
                }
            } else if !records.isEmpty {
                problems.append("audit.head is missing")
            }
        } catch {
            problems.append("audit.head was altered")
        }
        return (records, problems)
    }
}
