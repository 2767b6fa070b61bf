internal import CertVaultCore
public import CertVaultOnboarding
public import Logging
internal import CSodium
internal import Foundation
internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// The durable outbox of webhook events: one file per event and receiver, written before
/// ``record(_:)`` returns, removed only once the receiver answered 2xx.
///
/// | path | what |
/// | --- | --- |
/// | `OUTBOX/pending/RECEIVER-EVENT.json` | an event not yet delivered to one receiver (``OutboxEntry``) |
/// | `OUTBOX/dead/RECEIVER-EVENT.json` | given up after `max_attempts`, with the last error |
/// | `OUTBOX/corrupt/NAME-RANDOM` | a file that could not be read, moved aside (nothing was sent for it) |
///
/// `RECEIVER` is 16 hex digits of a hash of the receiver's URL (the URL may carry a secret, so
/// it is not in names or logs); `EVENT` is the event's id. Folders are 0700, files 0600. A file
/// is written to a temporary name, flushed, linked into place and the folder flushed, so it is
/// there whole or not at all after a crash. Recording the same event id again changes nothing.
///
/// The schedule (attempts, next attempt) is in each file and, for a cheap listing, in memory:
/// ``due(now:limit:)`` reads the folder's names and opens only files it has not seen yet, so an
/// event moved back from `dead/` by hand is picked up without a restart (its attempts start
/// again). One process writes an outbox folder (`certvault serve`, which holds the vault's serve lock).
///
/// With `[storage] backend = "postgres"` the outbox is a table of the shared database instead
/// (``init(backend:receivers:logger:clock:)``, ``WebhookOutboxBackend``): several replicas record
/// into it, and each due delivery is claimed by one of them at a time.
public final class WebhookOutbox: LifecycleEventSink, Sendable {
    /// The outbox folder.
    public let path: String
    /// The receivers' URLs; each gets every recorded event once.
    public let receivers: [String]
    private let logger: Logger
    private let clock: @Sendable () -> Double
    private let schedule = Mutex([String: Schedule]())
    private let observers = Mutex([@Sendable () -> Void]())
    /// The database keeping the events, or nil for the folder at ``path``.
    public let backend: (any WebhookOutboxBackend)?

    struct Schedule: Sendable, Hashable {
        var attempts: Int
        var nextAttemptAt: Double
    }

    /// The pending folder.
    public var pendingPath: String { backend == nil ? path + "/pending" : path + " (pending)" }
    /// The folder of events given up on.
    public var deadPath: String { backend == nil ? path + "/dead" : path + " (dead)" }
    /// The folder unreadable files are moved to.
    public var corruptPath: String { path + "/corrupt" }

    /// Opens (or creates, 0700) the outbox at `path` for `receivers`, and loads its schedule.
    ///
    /// - Parameter clock: Unix time in seconds (tests control it).
    /// - Throws: ``CertVaultError`` `file-system`, `insecure-permissions` (a folder others may read).
    public init(path: String, receivers: [String], logger: Logger,
                clock: @escaping @Sendable () -> Double = WebhookClock.now) throws {
        self.path = path
        self.receivers = receivers
        self.logger = logger
        self.clock = clock
        self.backend = nil
        try PrivateFiles.makePrivateDirectory(path)
        for folder in [pendingPath, deadPath, corruptPath] {
            try PrivateFiles.makePrivateDirectory(folder)
            // Temporary files of writes a crash interrupted: never linked into place, so never an event.
            for name in PrivateFiles.names(in: folder) where name.hasPrefix(".tmp-") { unlink("\(folder)/\(name)") }
        }
        _ = refresh(now: clock())
    }

    /// An outbox kept by `backend` (the shared database) for `receivers`: several replicas may
    /// record into it and deliver from it; each delivery is claimed by one of them at a time.
    ///
    /// - Parameter clock: Unix time in seconds (tests control it).
    public init(backend: any WebhookOutboxBackend, receivers: [String], logger: Logger,
                clock: @escaping @Sendable () -> Double = WebhookClock.now) {
        self.path = backend.location
        self.receivers = receivers
        self.logger = logger
        self.clock = clock
        self.backend = backend
    }

    /// Calls `observer` after every ``record(_:)`` that added something (the deliverer wakes up).
    public func onRecord(_ observer: @escaping @Sendable () -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// The file name of `event` for `receiver`.
    public static func fileName(eventID: String, receiver: String) -> String {
        let safe = !eventID.isEmpty && eventID.count <= 100 && !eventID.hasPrefix(".")
            && eventID.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F }
        let idPart = safe ? eventID : "h" + hash(eventID, bytes: 16)
        return "\(receiverKey(receiver))-\(idPart).json"
    }

    /// 16 hex digits naming a receiver in file names, logs and metrics without its URL.
    public static func receiverKey(_ url: String) -> String {
        String(hash(url, bytes: 16).prefix(16))
    }

    private static func hash(_ text: String, bytes: Int) -> String {
        SodiumRuntime.ensureInitialized()
        let input = Array(text.utf8)
        var out = [UInt8](repeating: 0, count: bytes)
        _ = crypto_generichash(&out, bytes, input, UInt64(input.count), nil, 0)
        return Hex.lower(out)
    }

    // MARK: Recording

    /// Writes the event for every receiver and returns once it is on disk (file and folder
    /// flushed). An event already recorded (same id) is left as it is.
    ///
    /// - Throws: ``CertVaultError`` `file-system` when a file cannot be written; receivers
    ///   written before the failure keep their copy.
    public func record(_ event: LifecycleEvent) throws {
        let now = clock()
        var added = false
        for receiver in receivers {
            let name = Self.fileName(eventID: event.id, receiver: receiver)
            let entry = OutboxEntry(event: event, receiver: receiver, recordedAt: now, attempts: 0, nextAttemptAt: now)
            if let backend {
                if try backend.insert(name: name, entry: entry) { added = true }
                continue
            }
            do {
                try PrivateFiles.writeNewFileAtomically("\(pendingPath)/\(name)", bytes: try entry.encoded())
            } catch let error as CertVaultError where error.code == .alreadyExists {
                continue
            }
            schedule.withLock { $0[name] = Schedule(attempts: 0, nextAttemptAt: now) }
            added = true
        }
        if added {
            logger.debug("webhook outbox: recorded \(event.kind.rawValue) \(event.id) for \(receivers.count) receiver(s)")
            for observer in observers.withLock({ $0 }) { observer() }
        }
    }

    // MARK: Listing

    /// A pending delivery: its file's name and content.
    public struct Pending: Sendable, Hashable {
        public var name: String
        public var entry: OutboxEntry

        /// A pending delivery named `name`.
        public init(name: String, entry: OutboxEntry) {
            self.name = name
            self.entry = entry
        }
    }

    /// Up to `limit` pending deliveries due at `now`, the longest overdue first. Unreadable files
    /// are moved to `corrupt/` on the way (logged), never returned.
    public func due(now: Double, limit: Int = 100) -> [Pending] {
        if let backend {
            do { return try backend.claimDue(now: now, limit: limit) } catch {
                logger.error("webhook outbox: cannot read \(path): \(error)")
                return []
            }
        }
        let known = refresh(now: now)
        let names = known.filter { $0.value.nextAttemptAt <= now }
            .sorted { ($0.value.nextAttemptAt, $0.key) < ($1.value.nextAttemptAt, $1.key) }.prefix(limit).map(\.key)
        return names.compactMap { name in
            guard let entry = read(name) else {
                schedule.withLock { $0[name] = nil }
                return nil
            }
            return Pending(name: name, entry: entry)
        }
    }

    /// How many deliveries are pending (not yet delivered, not given up).
    public func pendingCount() -> Int {
        if let backend { return (try? backend.pendingCount()) ?? 0 }
        return schedule.withLock { $0.count }
    }

    /// How many deliveries were given up on (`dead/`).
    public func deadCount() -> Int {
        if let backend { return (try? backend.deadCount()) ?? 0 }
        return PrivateFiles.names(in: deadPath).filter { !$0.hasPrefix(".") }.count
    }

    /// When the next pending delivery is due, or nil when none is pending.
    public func nextDueTime() -> Double? {
        if let backend { return try? backend.nextDueTime() }
        return schedule.withLock { $0.values.map(\.nextAttemptAt).min() }
    }

    /// Reads the pending folder's names; loads files not seen before, forgets names gone.
    private func refresh(now: Double) -> [String: Schedule] {
        let names = Set(PrivateFiles.names(in: pendingPath).filter { !$0.hasPrefix(".") })
        let unknown = schedule.withLock { current -> [String] in
            for name in current.keys where !names.contains(name) { current[name] = nil }
            return names.filter { current[$0] == nil }
        }
        for name in unknown {
            guard var entry = read(name) else { continue }
            if entry.parkedAt != nil {
                // Moved back from dead/ by hand: a fresh set of attempts, starting now.
                entry.parkedAt = nil
                entry.attempts = 0
                entry.nextAttemptAt = now
                do {
                    try replace(name, with: entry)
                    logger.info("webhook outbox: \(name) was moved back from dead/; delivering it again")
                } catch {
                    logger.error("webhook outbox: cannot re-queue \(name): \(error)")
                    continue
                }
            }
            let loaded = entry
            schedule.withLock { $0[name] = Schedule(attempts: loaded.attempts, nextAttemptAt: loaded.nextAttemptAt) }
        }
        return schedule.withLock { $0 }
    }

    /// The entry in `pending/NAME`, or nil (moved to `corrupt/` when it exists but cannot be read).
    private func read(_ name: String) -> OutboxEntry? {
        let file = "\(pendingPath)/\(name)"
        guard let data = FileManager.default.contents(atPath: file) else { return nil }  // gone meanwhile
        do {
            return try OutboxEntry.decode(Array(data))
        } catch {
            let aside = "\(corruptPath)/\(name)-\(PrivateFiles.randomName())"
            if rename(file, aside) == 0 {
                try? PrivateFiles.syncDirectory(pendingPath)
                logger.error("webhook outbox: '\(file)' is not a readable event (\(error)); moved it to '\(aside)'; nothing was sent for it. Look at it, and delete it or write it again as an event")
            } else {
                logger.error("webhook outbox: '\(file)' is not a readable event (\(error)) and cannot be moved aside (\(PrivateFiles.errnoText())); it is skipped")
            }
            return nil
        }
    }

    // MARK: Outcomes

    /// The receiver accepted it: the file goes.
    public func markDelivered(_ name: String) throws {
        if let backend { return try backend.remove(name: name) }
        guard unlink("\(pendingPath)/\(name)") == 0 || errno == ENOENT else {
            throw CertVaultError(.fileSystem, "Cannot remove the delivered event '\(pendingPath)/\(name)'.",
                                 hint: "Check the outbox folder's permissions; the event would be sent again.",
                                 underlying: PrivateFiles.errnoText())
        }
        schedule.withLock { $0[name] = nil }
        try PrivateFiles.syncDirectory(pendingPath)
    }

    /// Stores a failed attempt: the count, the next attempt's time, the error.
    public func reschedule(_ name: String, entry: OutboxEntry) throws {
        if let backend { return try backend.reschedule(name: name, entry: entry) }
        try replace(name, with: entry)
        schedule.withLock { $0[name] = Schedule(attempts: entry.attempts, nextAttemptAt: entry.nextAttemptAt) }
    }

    /// Gives up on a delivery: the entry (with its last error) moves to `dead/`.
    public func park(_ name: String, entry: OutboxEntry) throws {
        var parked = entry
        parked.parkedAt = clock()
        if let backend { return try backend.park(name: name, entry: parked) }
        let target = "\(deadPath)/\(name)"
        unlink(target)  // the same event parked before, re-queued and given up again
        try PrivateFiles.writeNewFileAtomically(target, bytes: try parked.encoded())
        try markDelivered(name)
    }

    /// Replaces `pending/NAME` whole: a flushed temporary file renamed over it, folder flushed.
    private func replace(_ name: String, with entry: OutboxEntry) throws {
        let temporary = "\(pendingPath)/.tmp-\(PrivateFiles.randomName())"
        try PrivateFiles.writeNewFile(temporary, bytes: try entry.encoded())
        guard rename(temporary, "\(pendingPath)/\(name)") == 0 else {
            let reason = PrivateFiles.errnoText()
            unlink(temporary)
            throw CertVaultError(.fileSystem, "Cannot update the outbox file '\(pendingPath)/\(name)'.", underlying: reason)
        }
        try PrivateFiles.syncDirectory(pendingPath)
    }
}

/// One event on its way to one receiver: the content of an outbox file.
public struct OutboxEntry: Codable, Sendable, Hashable {
    /// The file format's version.
    public var format: Int = 1
    /// The event, exactly as it is sent.
    public var event: LifecycleEvent
    /// The receiver's URL.
    public var receiver: String
    /// When it was recorded, Unix seconds.
    public var recordedAt: Double
    /// Attempts made so far.
    public var attempts: Int
    /// When the next attempt is due, Unix seconds.
    public var nextAttemptAt: Double
    /// Why the last attempt failed (a status or a transport error; never the URL's secret parts).
    public var lastError: String?
    /// When it was given up on (only in `dead/`).
    public var parkedAt: Double?

    /// A new entry.
    public init(event: LifecycleEvent, receiver: String, recordedAt: Double, attempts: Int, nextAttemptAt: Double,
                lastError: String? = nil, parkedAt: Double? = nil) {
        self.event = event
        self.receiver = receiver
        self.recordedAt = recordedAt
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.parkedAt = parkedAt
    }

    /// The entry's JSON (as in an outbox file).
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [10]
    }

    /// The entry in `bytes` (an outbox file's or row's JSON), checked.
    ///
    /// - Throws: when it is not an entry this certvault can read.
    public static func decode(_ bytes: [UInt8]) throws -> OutboxEntry {
        let entry = try JSONDecoder().decode(OutboxEntry.self, from: Data(bytes))
        guard entry.format == 1 else {
            throw CertVaultError(.invalidInput, "Outbox file format \(entry.format) is not known to this certvault.")
        }
        guard entry.attempts >= 0, entry.nextAttemptAt.isFinite, entry.receiver.contains("://") else {
            throw CertVaultError(.invalidInput, "The outbox entry's attempts, time or receiver is not valid.")
        }
        return entry
    }
}

/// The JSON body of a webhook request.
public enum WebhookPayload {
    /// The event as JSON with sorted keys (and `/` unescaped): the exact bytes signed and sent.
    public static func body(_ event: LifecycleEvent) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(event))
    }
}
