/** The Kinesis emulators {@link LocalStack} can run. */
export type KinesisEmulatorKind = 'kinesalite' | 'kinesis-local';

/** Every emulator the host script can run: the Kinesis ones and dynalite for DynamoDB. */
export type EmulatorKind = KinesisEmulatorKind | 'dynalite';
