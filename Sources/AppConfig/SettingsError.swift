/// A configuration mistake, phrased so that the one line printed tells the operator what to fix.
public struct SettingsError: Error, CustomStringConvertible, Sendable {
    public let setting: String
    public let problem: String

    public init(setting: String, problem: String) {
        self.setting = setting
        self.problem = problem
    }

    public var description: String { "invalid \(setting): \(problem)" }
}
