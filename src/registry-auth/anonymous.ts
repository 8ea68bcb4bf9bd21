/** A keychain that always answers "anonymous": pull public images, push to open registries. */
import { ANONYMOUS, type Keychain } from "./keychain";

export const anonymousKeychain: Keychain = {
  async resolve() {
    return { credential: ANONYMOUS, source: "anonymous (no credentials)" };
  },
  describe() {
    return "anonymous";
  },
};
