import { steerCommand } from './steer.js';

export default steerCommand(
  'cancel',
  'cancel a Temporal run: the running activity stops cleanly, finished artifacts stay',
);
