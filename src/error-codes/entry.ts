/** One entry of the error catalogue (catalogue.ts): what a code means, what the user does next, an example message. */
export interface ErrorDoc {
  /** What went wrong, in a sentence. */
  meaning: string;
  /** What the user does about it. */
  next: string;
  /** A message as the CLI prints it after `error[CODE]: `. */
  example: string;
}
