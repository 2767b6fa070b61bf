public import CertVaultCore
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#endif

/// Group commit for the audit log: many callers hand over one record each, and one write and
/// one fsync make all of them durable together. Each caller gets its record's sequence number
/// only once its record is on disk, never before.
///
/// One writer thread (started on demand, gone after a few idle seconds) takes everything queued
/// while the previous batch was being written, appends it with ``AuditLog/appendMany(_:actor:now:)``
/// under the vault's `flock` (so the CLI and other processes keep their turn), and wakes the
/// callers. The log's bytes, hash chain and MACs are exactly those of one
/// ``AuditLog/append(actor:action:tenant:generation:detail:now:)`` per record
/// (docs/vault-format.md). When a batch cannot be written or flushed, every caller in it gets
/// the same error.
///
/// Both a blocking API (for threads of a pool) and an async one; neither blocks an event loop
/// (the async one waits on a continuation that the writer thread resumes). Used through
/// ``CredentialReader`` for credential reads; usable on its own for other audited actions.
public final class AuditCommitter: @unchecked Sendable {
    /// Counts since the committer was made, for metrics and benchmarks.
    public struct Statistics: Sendable, Equatable {
        /// Records made durable.
        public var records: Int = 0
        /// Batches written (one write and one fsync of the log each).
        public var batches: Int = 0
        /// Records whose batch could not be written (their callers got an error).
        public var failedRecords: Int = 0

        /// Counts as given.
        public init(records: Int = 0, batches: Int = 0, failedRecords: Int = 0) {
            self.records = records
            self.batches = batches
            self.failedRecords = failedRecords
        }
    }

    /// One queued record: `prepare` runs on the writer thread and yields the record (or throws,
    /// failing only this caller); `complete` gets the sequence number or the error.
    struct Job: Sendable {
        let prepare: @Sendable () throws -> AuditLog.Pending
        let complete: @Sendable (Result<Int, any Error>) -> Void
    }

    let audit: AuditLog
    let folder: String
    /// The actor of records that do not name one.
    let actor: String
    /// The most records one batch takes (more wait for the next one).
    public let maximumBatch: Int

    private let condition = NSCondition()
    private var queue: [Job] = []
    private var writerRunning = false
    /// True while a batch is being written, by the writer thread or by a caller writing its own record.
    private var writing = false
    /// The size of the last batch: 1 means reads arrive one at a time, so a blocking caller
    /// writes its own record on its thread (no hand-over to the writer thread and back).
    private var lastBatchSize = 1
    private var closed = false
    private var counts = Statistics()
    /// Test hook, called on the writer thread before each batch is written (with its size); an
    /// error it throws fails the batch like an I/O error. Set it before the first commit.
    package nonisolated(unsafe) var beforeWrite: (@Sendable (Int) throws -> Void)?
    /// Test and metrics hook, called on the writer thread once a batch is durable, with the
    /// batch's sequence numbers, before any of its callers is woken. Set it before the first commit.
    package nonisolated(unsafe) var onDurable: (@Sendable (ClosedRange<Int>) -> Void)?

    /// Seconds the writer thread waits for work before it ends (the next commit starts another).
    static let idleSeconds = 5.0

    init(audit: AuditLog, folder: String, actor: String, maximumBatch: Int = 4096) {
        self.audit = audit
        self.folder = folder
        self.actor = actor
        self.maximumBatch = max(1, maximumBatch)
    }

    /// Counts since the committer was made.
    public var statistics: Statistics {
        condition.lock()
        defer { condition.unlock() }
        return counts
    }

    /// Records waiting for the writer (for tests).
    package var queued: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    /// Appends one record and returns its sequence number once it is durable (fsynced together
    /// with the records of other callers). Blocks the calling thread: call it from a pool thread.
    ///
    /// - Throws: ``CertVaultError`` `file-system` when the batch could not be written or flushed,
    ///   or the committer was closed.
    public func commit(action: String, tenant: String? = nil, generation: Int? = nil, detail: String = "",
                       actor: String? = nil) throws -> Int {
        let record = AuditLog.Pending(action: action, tenant: tenant, generation: generation, detail: detail, actor: actor)
        return try wait { record }
    }

    /// Appends one record and returns its sequence number once it is durable; suspends instead of
    /// blocking (the writer thread resumes it).
    public func commit(action: String, tenant: String? = nil, generation: Int? = nil, detail: String = "",
                       actor: String? = nil) async throws -> Int {
        let record = AuditLog.Pending(action: action, tenant: tenant, generation: generation, detail: detail, actor: actor)
        return try await withCheckedThrowingContinuation { continuation in
            enqueue(Job(prepare: { record }, complete: { continuation.resume(with: $0) }))
        }
    }

    /// Stops taking records; the ones already queued are still written. Later commits fail.
    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Queues a job and blocks until it is complete. When nothing is being written and reads
    /// have been arriving one at a time, the caller writes its record itself: a lone reader
    /// pays no thread hand-over. Records arriving meanwhile queue for the writer thread.
    func wait(_ prepare: @escaping @Sendable () throws -> AuditLog.Pending) throws -> Int {
        let box = ResultBox()
        condition.lock()
        if !closed && !writing && queue.isEmpty && lastBatchSize <= 1 {
            writing = true
            condition.unlock()
            write([Job(prepare: prepare, complete: { box.result = $0 })])
            condition.lock()
            writing = false
            let waiting = !queue.isEmpty
            condition.broadcast()
            condition.unlock()
            if waiting { startWriterIfNeeded() }
            return try box.result!.get()
        }
        condition.unlock()
        let done = DispatchSemaphore(value: 0)
        enqueue(Job(prepare: prepare, complete: { result in
            box.result = result
            done.signal()
        }))
        done.wait()
        return try box.result!.get()
    }

    func enqueue(_ job: Job) {
        condition.lock()
        guard !closed else {
            condition.unlock()
            job.complete(.failure(CertVaultError(.fileSystem, "The audit committer of the vault at '\(folder)' is closed; nothing was read.",
                                                 hint: "The service is shutting down; retry against the running service.")))
            return
        }
        queue.append(job)
        condition.broadcast()
        condition.unlock()
        startWriterIfNeeded()
    }

    private func startWriterIfNeeded() {
        condition.lock()
        guard !writerRunning else {
            condition.unlock()
            return
        }
        writerRunning = true
        condition.unlock()
        let thread = Thread { [self] in writerLoop() }
        thread.name = "certvault-audit-commit"
        thread.start()
    }

    /// The writer thread: takes everything queued, writes it, wakes the callers; ends when idle.
    private func writerLoop() {
        while true {
            condition.lock()
            while queue.isEmpty || writing {
                if queue.isEmpty && closed
                    || !condition.wait(until: Date(timeIntervalSinceNow: AuditCommitter.idleSeconds)) && queue.isEmpty {
                    writerRunning = false
                    condition.unlock()
                    return
                }
            }
            let batch = Array(queue.prefix(maximumBatch))
            queue.removeFirst(batch.count)
            writing = true
            lastBatchSize = batch.count
            condition.unlock()
            write(batch)
            condition.lock()
            writing = false
            condition.broadcast()
            condition.unlock()
        }
    }

    private func write(_ batch: [Job]) {
        var records: [AuditLog.Pending] = []
        var owners: [Job] = []
        records.reserveCapacity(batch.count)
        for job in batch {
            do {
                records.append(try job.prepare())
                owners.append(job)
            } catch {
                job.complete(.failure(error))
            }
        }
        guard !records.isEmpty else { return }
        do {
            try beforeWrite?(records.count)
            guard let sequences = try withFileLock({ try audit.appendMany(records, actor: actor) }) else { return }
            onDurable?(sequences)
            condition.lock()
            counts.records += records.count
            counts.batches += 1
            condition.unlock()
            for (offset, job) in owners.enumerated() { job.complete(.success(sequences.lowerBound + offset)) }
        } catch {
            condition.lock()
            counts.failedRecords += records.count
            condition.unlock()
            let cause = (error as? CertVaultError).map { $0.reason + ($0.underlying.map { " (\($0))" } ?? "") } ?? "\(error)"
            let others = records.count - 1
            let failure = CertVaultError(
                .fileSystem,
                "The audit record of this read\(others > 0 ? " (and of \(others) other\(others == 1 ? "" : "s") committed with it)" : "") "
                    + "could not be made durable in the vault at '\(folder)', so nothing was released.",
                hint: "Check the audit log's disk (space, permissions, errors) and run 'certvault audit verify'; then retry.",
                underlying: cause)
            for job in owners { job.complete(.failure(failure)) }
        }
    }

    /// Runs `body` holding the vault's writers' lock (for files, the `flock` every writer takes)
    /// through the committer's own storage object.
    private func withFileLock<T>(_ body: () throws -> T) throws -> T {
        try audit.storage.withLock(body)
    }
}

/// A result handed from the writer thread to a blocked caller (the semaphore orders the accesses).
private final class ResultBox: @unchecked Sendable {
    var result: Result<Int, any Error>?
}
