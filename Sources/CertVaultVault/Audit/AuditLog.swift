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
public struct AuditLog: @unchecked Sendable {
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

    let storage: any VaultStorage
    let key: SecretBytes

    init(storage: any VaultStorage, root: SecretBytes) {
        self.storage = storage
        key = AEAD.deriveKey(from: root, purpose: "certvault audit key v1")
    }

    /// The same log through another storage object (its own lock), for the group commit's writer thread.
    func onAnotherHandle() throws -> AuditLog { AuditLog(storage: try storage.anotherHandle(), key: key) }

    private init(storage: any VaultStorage, key: SecretBytes) {
        self.storage = storage
        self.key = key
    }

    var path: String { storage.describe(AuditLog.fileName) }
    var headPath: String { storage.describe(AuditLog.headName) }

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
        try appendMany([Pending(action: action, tenant: tenant, generation: generation, detail: detail)], actor: actor, now: now)
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
        var range: ClosedRange<Int>?
        let time = UTCTime.dateTime(now ?? UTCTime.now())
        let cleanActor = AuditLog.clean(actor)
        try storage.appendAudit { tail in
            var sequence = tail?.sequence ?? 0
            var previous = tail?.mac ?? AuditLog.zeroMAC
            let first = sequence + 1
            var lines: [AuditLine] = []
            lines.reserveCapacity(records.count)
            for record in records {
                sequence += 1
                let fields = [
                    String(sequence), time, record.actor.map(AuditLog.clean) ?? cleanActor, AuditLog.clean(record.action),
                    AuditLog.clean(record.tenant ?? "-"), record.generation.map(String.init) ?? "-",
                    AuditLog.clean(record.detail.isEmpty ? "-" : record.detail), previous,
                ]
                let prefix = fields.joined(separator: "\t") + "\t"
                previous = mac(prefix)
                lines.append(AuditLine(sequence: sequence, text: prefix + previous + "\n"))
            }
            range = first...sequence
            return AuditAppend(lines: lines, head: headBytes(sequence: sequence, mac: previous))
        }
        return range
    }

    /// The sequence number and mac of one line (without its LF), or nil when it is not a record.
    static func tail(ofLine line: some Collection<UInt8>) -> AuditTail? {
        let fields = String(decoding: line, as: UTF8.self).split(separator: "\t", omittingEmptySubsequences: false)
        guard fields.count == 9, let sequence = AuditLog.sequenceNumber(fields[0]), fields[8].utf8.count == 64 else { return nil }
        return AuditTail(sequence: sequence, mac: String(fields[8]))
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
        guard let bytes = try? storage.readAuditHead() else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.trimmingCharacters(in: .newlines).split(separator: "\t").map(String.init)
        guard parts.count == 3, let sequence = AuditLog.sequenceNumber(parts[0]), AEAD.equalHex(mac("head\t\(parts[0])\t\(parts[1])"), parts[2]) else {
            throw VaultError.authentication(headPath, "audit head")
        }
        return (sequence, parts[1])
    }

    /// The bytes of `audit.head` naming the record `sequence` with mac `recordMAC`.
    func headBytes(sequence: Int, mac recordMAC: String) -> [UInt8] {
        let body = "\(sequence)\t\(recordMAC)"
        return Array((body + "\t" + mac("head\t\(body)") + "\n").utf8)
    }

    /// Reads every record, checking the chain, each mac and the head.
    ///
    /// - Returns: the records and a list of problems (empty when the log is intact).
    func verify() -> (records: [Record], problems: [String]) {
        var problems: [String] = []
        var records: [Record] = []
        let text = (try? storage.readAuditLog()).map { String(decoding: $0, as: UTF8.self) } ?? ""
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
