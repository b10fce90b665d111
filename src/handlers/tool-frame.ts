/**
 * The first steps every SHELL and FILE frame takes at the gateway (session tools II): decode it,
 * find its message, and check its stream id. Refusals carry the stream id, so the client knows
 * which shell or transfer was refused.
 */
import { type CodeEntry, Codes } from '../protocol/codes.js';
import { ferry } from '../protocol/gen/ferry.js';

type ToolField = 'shell' | 'file';
type ToolMessage<F extends ToolField> = F extends 'shell'
  ? ferry.v1.ShellMessage
  : ferry.v1.FileMessage;

const NAMES: Record<ToolField, { channel: string; message: string; id: string }> = {
  shell: { channel: 'SHELL', message: 'ShellMessage', id: 'a shell id' },
  file: { channel: 'FILE', message: 'FileMessage', id: 'a file id' },
};

/** The stream id and message of a tool frame, or null once `refuse` has been told why not. */
export function decodeToolFrame<F extends ToolField>(
  bytes: Uint8Array,
  field: F,
  refuse: (entry: CodeEntry, message: string, id: number) => void,
): { id: number; msg: ToolMessage<F> } | null {
  let frame: ferry.v1.Frame;
  try {
    frame = ferry.v1.Frame.decode(bytes);
  } catch (err) {
    refuse(Codes.FRAME_DECODE, `not valid protobuf: ${(err as Error).message}`, 0);
    return null;
  }
  const id = frame.stream;
  const names = NAMES[field];
  const msg = frame[field] as ToolMessage<F> | null | undefined;
  if (msg == null || msg.kind === undefined) {
    refuse(Codes.FRAME_DECODE, `${names.channel} frames carry a ${names.message}`, id);
    return null;
  }
  if (id === 0) {
    refuse(Codes.INVALID_ARGUMENT, `${names.id} (Frame.stream) is never 0`, id);
    return null;
  }
  return { id, msg };
}
