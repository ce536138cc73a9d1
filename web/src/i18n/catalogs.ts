// Every feature's messages; one import per feature file.
import { account } from "./account";
import { common } from "./common";
import { register } from "./index";
import { meetings } from "./meetings";
import { room } from "./room";

register(common);
register(account);
register(meetings);
register(room);
