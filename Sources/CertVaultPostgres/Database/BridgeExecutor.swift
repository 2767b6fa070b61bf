internal import Foundation

/// A task executor with one thread of its own, on which the synchronous storage calls run their
/// async PostgreSQL work.
///
/// The vault and the onboarding records have synchronous interfaces (the CLI, the blocking pool of
/// the service and the tests call them from plain threads). ``PostgresDatabase/blocking(_:)`` starts
/// the query as a task preferring this executor and waits on a semaphore. Were the task to run on
/// Swift's cooperative pool instead (one thread per core, two here), two callers blocked in the
/// wait would leave no thread for the task that wakes them. The thread never blocks: it only
/// drives the tasks between their awaits, and postgres-nio does the I/O on its event loops.
final class BridgeExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    /// Starts the thread; it lives as long as the process.
    init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    /// The one executor of the process.
    static let shared = BridgeExecutor(name: "certvault-postgres-bridge")
}
